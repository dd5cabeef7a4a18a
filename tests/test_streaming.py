"""Streaming: the cascade as keyframes arrive, the pipeline's frames window by window, `kinema.stream`, and
`kinema generate -o -` (YUV4MPEG2 on standard output) with a reader that goes away."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import kinema
from kinema.models.components import DEFAULT_MODEL, load_component
from kinema.pipeline import ClipSettings, Pipeline
from kinema.pipeline.cascade import Blend, Cascade, Upscaling
from kinema.models.interpolator import Interpolation

PROMPT = "a red circle moving right on a black background"


@pytest.mark.parametrize("cuts", [[1], [5, 16, 17], [11, 22, 33]])
def test_each_stage_gives_the_same_frames_however_its_input_arrives(cuts):
    rng = np.random.default_rng(0)
    keyframes = rng.integers(0, 255, (40, 16, 16, 3), dtype=np.uint8)
    interpolator, upscaler = load_component(DEFAULT_MODEL, "interpolator"), load_component(DEFAULT_MODEL, "upscaler")
    stages = [lambda: Interpolation(interpolator, 8, 24, 40, 118), lambda: Interpolation(interpolator, 8, 6, 40, 30),
              lambda: Blend(8, 10, 40, 50, 24), lambda: Blend(8, 8, 40, 40, 12), lambda: Upscaling(upscaler, 40, 32),
              lambda: Cascade(8, 16, 40, 12, 60, 32, interpolator, upscaler)]
    for make in stages:
        whole = make().push(keyframes)
        stage = make()
        out = [stage.push(p) for p in np.split(keyframes, cuts)]
        assert np.array_equal(np.concatenate(out), whole)
        assert sum(len(o) > 0 for o in out) >= 2 or len(cuts) == 1  # frames come out before the last piece is in


def test_the_pipeline_streams_a_long_clip_window_by_window_as_make_makes_it(going_on_model):
    pipe = Pipeline.load(going_on_model)
    s = pipe.resolve(ClipSettings(seed=4, steps=2, size=48, fps=6, seconds=5))
    chunks = list(pipe.frames(PROMPT, s))
    assert len(chunks) >= 3  # a window at a time
    assert np.array_equal(np.concatenate(chunks), pipe.make(PROMPT, s).frames)
    frames = list(kinema.stream(PROMPT, model=str(going_on_model), seed=4, steps=2, size=48, fps=6, seconds=5))
    assert len(frames) == 30 and np.array_equal(np.stack(frames), np.concatenate(chunks))
    with pytest.raises(ValueError, match="prompt is empty"):  # checked at the call, before the first frame
        kinema.stream("  ", model=str(going_on_model))


def test_the_shipped_models_first_frame_leaves_alone_before_the_rest_of_the_window():
    """The verifier chooses on decoded keyframes; the chosen one's first frame is refined, kept by the interpolator
    and upscaled alone, so it is out before the rest of the first window is refined or interpolated."""
    pipe = Pipeline.load()
    s = pipe.resolve(ClipSettings(seed=1, seconds=1, size=128, fps=16))
    chunks = list(pipe.frames(PROMPT, s))
    assert [len(c) for c in chunks[:2]] == [1, 7] and sum(map(len, chunks)) == 16  # (then chunks end at 8s)
    assert pipe.timings["refine"] > 0 and pipe.timings["interpolate"] > 0 and pipe.timings["upscale"] > 0


def read_y4m(data: bytes) -> tuple[str, np.ndarray]:
    """The header line and the frames of a 4:4:4 YUV4MPEG2 stream, back to RGB through PyAV (swscale)."""
    import io

    import av

    with av.open(io.BytesIO(data), format="yuv4mpegpipe") as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    return data.split(b"\n", 1)[0].decode(), frames


def generate_to_stdout(model, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kinema", "generate", PROMPT, "--model", str(model), "--steps", "2",
                             "--seed", "9", "--size", "32", "--fps", "4", "-o", "-", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_generate_to_stdout_streams_yuv4mpeg2_and_stops_cleanly_when_the_reader_goes_away(going_on_model):
    proc = generate_to_stdout(going_on_model, "--seconds", "6")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    header, frames = read_y4m(out)
    assert header == "YUV4MPEG2 W32 H32 F4:1 Ip A1:1 C444" and frames.shape == (24, 32, 32, 3)
    pipe = Pipeline.load(going_on_model)
    made = pipe.make(PROMPT, pipe.resolve(ClipSettings(seed=9, steps=2, size=32, fps=4, seconds=6))).frames
    assert np.abs(frames.astype(int) - made).mean() < 1.5  # the same frames, through 8-bit YCbCr and back

    proc = generate_to_stdout(going_on_model, "--seconds", "60")
    first = proc.stdout.read(3500)  # the header and the first frame or so: a player that is then closed
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 0 and first.startswith(b"YUV4MPEG2 ")
    assert "the reader went away" in err and "Traceback" not in err and "Exception" not in err
