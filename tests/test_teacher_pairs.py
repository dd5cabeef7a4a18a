"""A teacher's noise -> clip pairs (reflow): deterministic guided samples, stored as a latent cache with each clip's
noise, which `kinema train` then trains on instead of fresh noise."""
import torch

from kinema.cli.main import main
from kinema.data.latents import LatentDataset
from kinema.diffusion.samplers import euler, guided_velocity
from kinema.io.checkpoint import load_tensors, save_tensors
from kinema.pipeline import Pipeline


def test_pairs_are_the_teachers_samples_and_train_a_student(going_on_model, tmp_path):
    pairs = tmp_path / "pairs"
    assert main(["teacher-pairs", "--model", str(going_on_model), "--out", str(pairs), "--count", "6", "--batch", "3",
                 "--steps", "4", "--guidance", "3", "--no-progress"]) == 0
    data = LatentDataset(pairs)
    assert len(data) == 6 and data.noise.shape == data.latent.shape
    teacher = Pipeline.load(going_on_model)
    x0, text = data.batch(3, 3)
    velocity = guided_velocity(teacher.denoiser, teacher.flow, text, teacher.text_encoder.empty(), 3.0,
                               tuple(teacher.sampling["guidance_interval"]))
    again = euler(velocity, data.pair_noise(3, 3)[0], teacher.schedule(4, teacher.sampling["shift"]))
    assert (again - x0).abs().max() < 1e-2  # (stored in float16)
    assert main(["teacher-pairs", "--model", str(going_on_model), "--out", str(pairs), "--count", "6",
                 "--no-progress"]) == 0  # done already: nothing redone
    common = ["train", "--preset", "tiny-latent", "--steps", "2", "--batch", "3", "--warmup", "1", "--no-progress",
              "--caption-dropout", "0"]
    assert main(common + ["--data", str(pairs), "--out", str(tmp_path / "student"), "--init", str(going_on_model)]) == 0
    plain = tmp_path / "plain"  # the same cache without its noise: fresh noise, other weights
    plain.mkdir()
    for f in pairs.iterdir():
        if f.suffix == ".safetensors" and f.name.startswith("shard"):
            save_tensors(plain / f.name, {k: v for k, v in load_tensors(f).items() if k != "noise"})
        else:
            (plain / f.name).write_bytes(f.read_bytes())
    assert LatentDataset(plain).pair_noise(0, 2) is None
    assert main(common + ["--data", str(plain), "--out", str(tmp_path / "fresh"), "--init", str(going_on_model)]) == 0
    a, b = (load_tensors(tmp_path / name / "train_state.safetensors") for name in ("student", "fresh"))
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("model."))


def test_late_items_go_on_from_their_clip_as_rendered(going_on_model, tmp_path):
    """`--late P`: an item late in its long clip is the teacher going on from that clip's first latent frames as
    rendered (as a long clip's later windows are made); its pair records its start, so training gives it them."""
    import numpy as np

    from kinema.data.dataset import ShapesDataset
    from kinema.io.frames import to_model_space

    pairs = tmp_path / "late"
    assert main(["teacher-pairs", "--model", str(going_on_model), "--out", str(pairs), "--count", "4", "--batch", "4",
                 "--steps", "2", "--physics", "1", "--late", "0.5", "--seed", "2", "--no-progress"]) == 0
    data = LatentDataset(pairs)
    late = data.going_on(0, 4)
    assert late.any() and not late.all()
    teacher = Pipeline.load(going_on_model)
    clip = teacher.clip
    ds = ShapesDataset(2, int(clip["size"]), float(clip["fps"]), float(clip["seconds"]), p_physics=1.0, late=0.5)
    for j in range(4):
        assert (data.starts[j] > 0) == bool(late[j]) and data.starts[j] == ds.start(j)
        encoded = teacher.autoencoder.encode(to_model_space(ds[j][0][None]))[0, :, :2]
        same = (data.latent[j, :, :2] - encoded).abs().max() < 2e-2  # (stored in float16)
        assert same == bool(late[j])  # given: the clip's own first frames; made from noise otherwise
    assert all(np.isfinite(data.latent.numpy()).ravel())


def test_caches_joined_are_read_as_one_and_mismatched_ones_refused(going_on_model, tmp_path):
    """recipes/join_caches.py: two teachers' pair caches read as one (each item, text and noise as in its own), and a
    cache of other clips refused before anything is written."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    made = []
    for seed in (1, 2):
        made.append(tmp_path / f"pairs-{seed}")
        assert main(["teacher-pairs", "--model", str(going_on_model), "--out", str(made[-1]), "--count", "3",
                     "--batch", "3", "--steps", "2", "--seed", str(seed), "--no-progress"]) == 0
    script = Path(__file__).resolve().parent.parent / "recipes" / "join_caches.py"
    joined = tmp_path / "joined"
    subprocess.run([sys.executable, str(script), str(joined), *map(str, made)], check=True, capture_output=True)
    data, parts = LatentDataset(joined), [LatentDataset(m) for m in made]
    assert len(data) == 6 and data.noise is not None
    assert torch.equal(data.latent, torch.cat([p.latent for p in parts]))
    assert torch.equal(data.noise, torch.cat([p.noise for p in parts]))
    assert torch.equal(data.text.pooled, torch.cat([p.text.pooled for p in parts]))
    clips = tmp_path / "clips"  # rendered clips (late in gravity's long clips, their layout theirs) beside pairs
    assert main(["cache-latents", "--autoencoder", str(going_on_model), "--out", str(clips), "--clips", "3",
                 "--size", "32", "--fps", "4", "--physics", "1", "--late", "1", "--late-until", "6",
                 "--no-progress"]) == 0
    mixed = tmp_path / "mixed"
    subprocess.run([sys.executable, str(script), str(mixed), str(made[0]), str(clips)], check=True, capture_output=True)
    data = LatentDataset(mixed)
    noise, paired = data.pair_noise(1, 4)
    assert paired.tolist() == [True, True, False, False] and torch.equal(noise[:2], parts[0].noise[1:3])
    assert data.has_layout(0, 6).tolist() == data.going_on(0, 6).tolist() == [False] * 3 + [True] * 3
    assert main(["train", "--preset", "tiny-latent", "--steps", "2", "--batch", "3", "--warmup", "1", "--no-progress",
                 "--caption-dropout", "0", "--data", str(mixed), "--out", str(tmp_path / "student"),
                 "--init", str(going_on_model)]) == 0
    other = tmp_path / "other"
    other.mkdir()
    for f in made[1].iterdir():
        (other / f.name).write_bytes(f.read_bytes())
    meta = json.loads((other / "cache.json").read_text())
    (other / "cache.json").write_text(json.dumps({**meta, "clip": {**meta["clip"], "fps": 16.0}}))
    refused = subprocess.run([sys.executable, str(script), str(tmp_path / "bad"), str(made[0]), str(other)],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "clip" in refused.stderr and not (tmp_path / "bad").exists()
