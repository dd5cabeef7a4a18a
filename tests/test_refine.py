"""The refiner: identity at the start, exact chunking, its training pairs, its training, the pipeline step."""
import shutil

import numpy as np
import pytest
import torch
from test_autoencoder import tiny_ae

from kinema.models.components import load_component
from kinema.models.refiner import REFINER_PRESETS, Refiner, refine_clip, refine_pieces
from kinema.text.encoder import Regions
from kinema.cli.main import main
from kinema.data.dataset import ShapesDataset
from kinema.data.refiner_pairs import RefinerPairs, build_pairs, load_pairs
from kinema.io.checkpoint import read_component, load_tensors, save_component
from kinema.pipeline import ClipSettings, Pipeline

PROMPT = "a red square moving left on a black background"


def test_refiner_starts_as_identity_reads_the_prompt_and_chunks_exactly(text_encoder):
    torch.manual_seed(0)
    m = Refiner(REFINER_PRESETS["tiny"]).eval()
    x = torch.rand(2, 3, 5, 16, 16) * 2 - 1
    cond = text_encoder.encode([PROMPT, "a blue circle falling on a white background"])
    with torch.no_grad():
        assert torch.equal(m(x, cond), x)
        m.out.weight.normal_(0, 0.1)
        full = m(x, cond).clamp(-1, 1)
        assert not torch.allclose(full, x)
        other = m(x, text_encoder.encode(["a green triangle", "a pink box standing still"])).clamp(-1, 1)
        assert not torch.allclose(full, other)  # the words change the output
        assert torch.allclose(refine_clip(m, x, cond, chunk=2), full, atol=1e-6)
        with pytest.raises(ValueError, match="divisible by 4"):
            m(torch.zeros(1, 3, 2, 18, 18), cond.index(slice(0, 1)))
        for passes in (1, 2):  # refined a piece at a time (a stream's first frame first): the whole clip's refinement
            whole = refine_clip(m, x, cond, passes=passes)
            for cuts in ([0, 1, 5], [2, 3, 5], [1, 4, 5]):
                pieces = list(refine_pieces(m, x, cond, passes, cuts))
                assert [p.shape[2] for p in pieces] == list(np.diff(cuts))
                assert torch.allclose(torch.cat(pieces, dim=2), whole[:, :, cuts[0]:], atol=1e-6)


def test_each_region_is_refined_under_its_own_words_and_in_exact_pieces(text_encoder):
    torch.manual_seed(0)
    m = Refiner(REFINER_PRESETS["tiny"]).eval()
    with torch.no_grad():
        m.out.weight.normal_(0, 0.1)
    x = torch.rand(2, 3, 5, 16, 16) * 2 - 1
    words = [text_encoder.encode(["a red square on a black background"] * 2),
             text_encoder.encode(["a blue circle on a black background"] * 2)]
    owner = (torch.arange(16)[None, None, None, :] >= 8).long().expand(2, 5, 16, -1)  # the left half, the right
    regions = Regions(words, owner)
    one = refine_clip(m, x, regions)
    by_words = [refine_clip(m, x, w) for w in words]
    assert torch.allclose(one[..., :8], by_words[0][..., :8], atol=1e-6)  # each half as its own words make it
    assert torch.allclose(one[..., 8:], by_words[1][..., 8:], atol=1e-6)
    assert not torch.allclose(by_words[0], by_words[1])
    assert torch.allclose(refine_clip(m, x, Regions(words[:1], torch.zeros_like(owner))), by_words[0], atol=1e-6)
    whole = refine_clip(m, x, regions, passes=2)
    for cuts in ([0, 1, 5], [2, 3, 5]):  # a stream's pieces: exact with regions too
        pieces = torch.cat(list(refine_pieces(m, x, regions, 2, cuts)), dim=2)
        assert torch.allclose(pieces, whole[:, :, cuts[0]:], atol=1e-6)


def test_pairs_are_autoencoded_clips_beside_rendered_ones_and_resume(tmp_path):
    ae = tiny_ae()
    out = build_pairs(ae, tmp_path / "pairs", 5, seed=2, size=32, fps=4, seconds=2.0, shard_size=2, batch=2,
                      progress=False)
    degraded, target, captions = load_pairs(out)
    assert degraded.shape == target.shape == (5, 8, 32, 32, 3) and degraded.dtype == torch.uint8
    ds = ShapesDataset(2, 32, 4, 2.0)
    for i in range(5):
        frames, caption = ds[i]
        assert np.array_equal(target[i].numpy(), frames) and captions[i] == caption
    assert (degraded != target).any()
    before = (out / "pairs-00001.safetensors").read_bytes()
    (out / "pairs-00001.safetensors").unlink()  # a stopped build: the missing shard is made again, the same
    build_pairs(ae, out, 5, seed=2, size=32, fps=4, seconds=2.0, shard_size=2, batch=2, progress=False)
    assert (out / "pairs-00001.safetensors").read_bytes() == before
    with pytest.raises(FileNotFoundError):
        load_pairs(tmp_path)


def test_refiner_trains_and_the_pipeline_applies_it(tmp_path, tiny_model, text_encoder, capsys):
    pairs = build_pairs(tiny_ae(), tmp_path / "pairs", 4, seed=3, size=32, fps=4, seconds=2.0, progress=False)
    lo, hi, cond = RefinerPairs(pairs, text_encoder, frames=4).batch(0, 3)
    assert lo.shape == hi.shape == (3, 3, 4, 32, 32) and len(cond) == 3
    run = tmp_path / "refiner"
    args = ["train-stage", "refiner", "--out", str(run), "--preset", "tiny", "--steps", "2", "--batch", "2",
            "--no-progress"]
    assert main(args) == 2 and "needs it" in capsys.readouterr().err
    assert main(args + ["--pairs", str(tmp_path)]) == 2 and "no refiner pairs" in capsys.readouterr().err
    assert main(["refiner-pairs", "--out", str(tmp_path / "x"), "--max-sigma", "9"]) == 2
    assert main(args + ["--pairs", str(pairs)]) == 0
    assert load_component(run, "refiner").step == 2 and (run / "loss.png").is_file()
    # --init: a new run starts from a trained refiner (for a new decoder's pairs, say), not from scratch
    weights, card = read_component(run, "refiner")
    torch.manual_seed(0)
    save_component(tmp_path / "start", "refiner", {k: v + 0.1 * torch.randn_like(v) for k, v in weights.items()}, card)
    one = args + ["--pairs", str(pairs), "--steps", "1", "--lr", "1e-5"]
    assert main(one + ["--out", str(tmp_path / "fresh")]) == 0
    assert main(one + ["--out", str(tmp_path / "tuned"), "--init", str(tmp_path / "start")]) == 0
    assert main(one + ["--out", str(tmp_path / "bad"), "--init", str(pairs)]) == 2
    start = load_component(tmp_path / "start", "refiner").state_dict()
    for name, far in (("tuned", False), ("fresh", True)):
        state = load_component(tmp_path / name, "refiner").state_dict()
        gap = max((state[k].float() - start[k].float()).abs().max().item() for k in start)
        assert (gap > 1e-2) == far

    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    plain = Pipeline.load(folder)(PROMPT, ClipSettings(steps=2, seed=1))
    assert plain.metadata["stages"]["refine"] == "none"
    for suffix in (".json", ".safetensors"):
        shutil.copy(run / ("refiner" + suffix), folder)
    pipe = Pipeline.load(folder)
    video = pipe(PROMPT, ClipSettings(steps=2, seed=1))
    assert video.metadata["stages"]["refine"] == "refiner step 2" and "refine" in pipe.timings
    assert video.frames.shape == plain.frames.shape and not np.array_equal(video.frames, plain.frames)
    assert np.array_equal(video.frames, pipe(PROMPT, ClipSettings(steps=2, seed=1)).frames)
    # --refine-passes: 0 skips the refiner, 2 runs it again over its own output
    assert np.array_equal(pipe(PROMPT, ClipSettings(steps=2, seed=1, refine_passes=0)).frames, plain.frames)
    twice = pipe(PROMPT, ClipSettings(steps=2, seed=1, refine_passes=2))
    assert twice.metadata["stages"]["refine"] == "refiner step 2, 2 passes" and twice.metadata["refine_passes"] == 2
    assert not np.array_equal(twice.frames, video.frames)
    with pytest.raises(ValueError, match="needs a refiner"):
        Pipeline.load(tiny_model)(PROMPT, ClipSettings(steps=2, refine_passes=1))
    out = tmp_path / "x.mp4"
    assert main(["generate", PROMPT, "-o", str(out), "--model", str(folder), "--refine-passes", "9"]) == 2
    assert "--refine-passes must be in [0, 4]" in capsys.readouterr().err and not out.exists()


def test_pairs_from_a_latent_denoisers_one_step_estimate(tmp_path, text_encoder):
    from kinema.models.denoiser import VideoDiT, preset
    from kinema.diffusion.rectified_flow import FlowConfig

    ae = tiny_ae()
    torch.manual_seed(0)
    denoiser = VideoDiT(preset("tiny", in_channels=ae.cfg.latent_channels, patch=(1, 2, 2)))
    with torch.no_grad():  # off the zero initialisation, so its estimates depend on its input and sampling does work
        for p in denoiser.parameters():
            p.add_(0.05 * torch.randn(p.shape))
    kw = dict(seed=2, size=32, fps=4, seconds=2.0, shard_size=4, progress=False)
    noised = load_pairs(build_pairs(ae, tmp_path / "noise", 3, **kw))
    estimated = load_pairs(build_pairs(ae, tmp_path / "denoiser", 3, denoiser=denoiser, flow=FlowConfig(),
                                        encoder=text_encoder, max_sigma=0.7, **kw))
    assert torch.equal(noised[1], estimated[1]) and noised[2] == estimated[2]  # same clips and captions
    assert estimated[0].shape == noised[0].shape and not torch.equal(estimated[0], noised[0])
    both = RefinerPairs([tmp_path / "noise", tmp_path / "denoiser"], text_encoder)
    assert len(both.target) == 6

