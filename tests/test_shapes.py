import numpy as np
import pytest

from kinema.world.shapes import (BACKGROUNDS, OBJECT_COLOURS, SIZES, Scene, SceneObject, positions, render,
                                sample_scene)


def one(shape="square", colour="red", size="large", motion="still", x=0.505, y=0.5, bg="black"):
    return Scene(bg, (SceneObject(colour, shape, size, motion, x, y),))


def test_palette_is_exact_inside_shapes_and_on_background():
    frames = render(one("square", "blue", "large", bg="gray"), size=64, fps=8, seconds=0.25)
    assert frames.shape == (2, 64, 64, 3) and frames.dtype == np.uint8
    assert tuple(frames[0, 32, 32]) == OBJECT_COLOURS["blue"]
    assert tuple(frames[0, 2, 2]) == BACKGROUNDS["gray"]
    # the square's left edge is at x = 0.365, i.e. 23.36 px: pixel 23 is partly covered, so blended
    edge = frames[0, 32, 23]
    assert tuple(edge) not in (OBJECT_COLOURS["blue"], BACKGROUNDS["gray"])


@pytest.mark.parametrize("shape,ratio", [("circle", np.pi / 4), ("square", 1.0), ("triangle", 0.5)])
def test_shape_areas_match_fill_ratios(shape, ratio):
    frames = render(one(shape, "yellow", "large", bg="black"), size=256, fps=1, seconds=1)
    covered = frames[0].astype(float).sum(-1) / sum(OBJECT_COLOURS["yellow"])
    box = (2 * SIZES["large"] * 256) ** 2
    assert covered.sum() / box == pytest.approx(ratio, rel=0.01)


def test_triangle_points_up():
    f = render(one("triangle", "green", "large"), size=128, fps=1, seconds=1)[0]
    rows = (f.sum(-1) > 0).sum(1)
    ys = np.nonzero(rows)[0]
    assert rows[ys[0] + 2] < rows[ys[-1] - 2]  # narrow at the top, wide at the base


def test_constant_speed_motions():
    t = np.array([0.0, 1.0, 2.0])
    for motion, (dx, dy) in {"left": (-0.25, 0), "right": (0.25, 0), "up": (0, -0.25), "down": (0, 0.25)}.items():
        x, y = positions(SceneObject("red", "circle", "small", motion, 0.5 - 0.3 * np.sign(dx), 0.5 - 0.3 * np.sign(dy)), t)
        np.testing.assert_allclose(np.diff(x), dx, atol=1e-12)
        np.testing.assert_allclose(np.diff(y), dy, atol=1e-12)


def test_reflects_off_walls_after_two_seconds():
    o = SceneObject("red", "circle", "small", "right", 1 - 0.08 - 0.5, 0.5)
    x, _ = positions(o, np.array([2.0, 2.4, 3.0]))
    np.testing.assert_allclose(x, [0.92, 0.92 - 0.1, 0.92 - 0.25], atol=1e-12)


def test_falling_accelerates_and_stops_dead_on_the_floor():
    o = SceneObject("red", "square", "small", "falling", 0.5, 0.2)
    t = np.linspace(0, 3, 301)
    _, y = positions(o, t)
    early = t < 0.5
    np.testing.assert_allclose(y[early], 0.2 + 0.5 * t[early] ** 2, atol=1e-12)
    assert y[-1] == pytest.approx(1 - 0.08) and y.max() <= 1 - 0.08 + 1e-12
    assert np.all(np.diff(y) >= -1e-12)


def test_bouncing_reverses_with_restitution():
    o = SceneObject("red", "circle", "large", "bouncing", 0.5, 0.3)
    floor = 1 - 0.14
    t_hit = np.sqrt(2 * (floor - 0.3))
    v_up = 0.8 * t_hit
    apex_t = t_hit + v_up  # g = 1
    _, y = positions(o, np.array([t_hit, apex_t]))
    assert y[0] == pytest.approx(floor)
    assert y[1] == pytest.approx(floor - v_up ** 2 / 2)


def test_sampled_scenes_stay_inside_for_two_seconds():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 2, 81)
    for _ in range(300):
        for o in sample_scene(rng).objects:
            x, y = positions(o, t)
            assert (x - o.r >= -1e-9).all() and (x + o.r <= 1 + 1e-9).all()
            assert (y - o.r >= -1e-9).all() and (y + o.r <= 1 + 1e-9).all()


def test_same_world_at_other_sizes_and_rates():
    scene = sample_scene(np.random.default_rng(3), p_two=1.0)
    a = render(scene, 64, 8, 2).astype(float)
    b = render(scene, 128, 16, 2).astype(float)
    assert a.shape == (16, 64, 64, 3) and b.shape == (32, 128, 128, 3)
    down = b[::2].reshape(16, 64, 2, 64, 2, 3).mean((2, 4))  # 2x2 area average of the finer render
    assert np.abs(down - a).mean() < 2.0


def test_scene_sampler_is_deterministic_and_colours_differ():
    a = [sample_scene(np.random.default_rng(7)) for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(1)
    for _ in range(100):
        s = sample_scene(rng, p_two=1.0)
        assert len(s.objects) == 2 and s.objects[0].colour != s.objects[1].colour


def test_bad_render_arguments():
    with pytest.raises(ValueError, match="at least 16"):
        render(one(), size=8)
    with pytest.raises(ValueError, match="no frames"):
        render(one(), fps=1, seconds=0.1)
