import numpy as np
import pytest

from kinema.world.captions import (HELD_OUT, TRAIN, Description, ObjectDescription, canonical, paraphrase,
                                  parse_canonical, scene_for)
from kinema.data.dataset import ShapesDataset
from kinema.world.shapes import MOTIONS, SHAPES, render, sample_scene
from kinema.world.judge import judge


def test_canonical_examples_from_the_spec_round_trip():
    for text in ["a red circle moving left on a black background",
                 "a large blue square falling and a yellow triangle standing still on a white background"]:
        assert canonical(parse_canonical(text)) == text
    d = parse_canonical("a large blue square falling and a yellow triangle standing still on a white background")
    assert d.objects[0] == ObjectDescription("blue", "square", "large", "falling")
    assert d.objects[1] == ObjectDescription("yellow", "triangle", None, "still")
    with pytest.raises(ValueError):
        parse_canonical("a red ball moving left on a black background")


def test_captions_agree_with_scenes():
    rng = np.random.default_rng(0)
    for _ in range(200):
        scene = sample_scene(rng)
        d = Description.of(scene)
        assert parse_canonical(canonical(d)) == d
        text = paraphrase(d, rng)
        for o in scene.objects:  # the colour words are kept; shape and motion are among the synonyms
            assert o.colour in text
            assert any(w in text for w in TRAIN.shapes[o.shape])
            assert any(w in text for w in TRAIN.participles[o.motion] + TRAIN.verbs[o.motion])
        assert any(w in text for w in TRAIN.backgrounds[scene.background])


def test_dataset_captions_describe_the_rendered_scene():
    ds = ShapesDataset(seed=5)
    seen_canonical = 0
    for i in range(60):
        scene, caption = ds.scene_and_caption(i)
        try:
            d = parse_canonical(caption)
        except ValueError:
            continue  # a paraphrase
        seen_canonical += 1
        assert d.background == scene.background
        assert [(o.colour, o.shape, o.motion) for o in d.objects] == [(o.colour, o.shape, o.motion) for o in scene.objects]
    assert seen_canonical > 5
    a, b = ds[3], ShapesDataset(seed=5)[3]
    assert a[1] == b[1] and np.array_equal(a[0], b[0])


def test_held_out_templates_differ_from_training_ones():
    assert not set(HELD_OUT.scene_templates) & set(TRAIN.scene_templates)
    assert not set(HELD_OUT.participles["left"]) & set(TRAIN.participles["left"])
    train_bgs = {w for ws in TRAIN.backgrounds.values() for w in ws}
    assert not {w for ws in HELD_OUT.backgrounds.values() for w in ws} - train_bgs - {"bright"}  # the one unseen one
    assert "bright" not in train_bgs
    text = paraphrase(Description("black", (ObjectDescription("red", "circle", None, "left"),)),
                      np.random.default_rng(0), HELD_OUT)
    assert "red" in text


def test_training_background_words_name_one_background_each():
    words = {bg: {t for w in ws for t in w.split()} for bg, ws in TRAIN.backgrounds.items()}
    for bg, ws in words.items():
        for other, os_ in words.items():
            if other != bg:
                assert not ws & os_, (bg, other)


def test_judge_scores_rendered_clips_high():
    rng = np.random.default_rng(11)
    results = []
    for _ in range(60):
        scene = sample_scene(rng, p_two=0.0)
        results.append(judge(render(scene, 64, 8, 2), 8, Description.of(scene)).all_correct)
    assert np.mean(results) >= 0.95


def test_judge_scores_mismatched_captions_low():
    rng = np.random.default_rng(12)
    hits = {"shape": [], "motion": [], "colour": [], "background": []}
    for _ in range(60):
        scene = sample_scene(rng, p_two=0.0)
        o = scene.objects[0]
        frames = render(scene, 64, 8, 2)
        wrong_shape = SHAPES[(SHAPES.index(o.shape) + 1) % 3]
        wrong_motion = MOTIONS[(MOTIONS.index(o.motion) + 1) % len(MOTIONS)]
        wrong_colour = "cyan" if o.colour != "cyan" else "red"
        wrong_bg = "white" if scene.background != "white" else "black"
        obj = lambda **kw: (ObjectDescription(**{**dict(colour=o.colour, shape=o.shape, size=None, motion=o.motion), **kw}),)
        hits["shape"].append(judge(frames, 8, Description(scene.background, obj(shape=wrong_shape))).attribute("shape"))
        hits["motion"].append(judge(frames, 8, Description(scene.background, obj(motion=wrong_motion))).attribute("motion"))
        hits["colour"].append(judge(frames, 8, Description(scene.background, obj(colour=wrong_colour))).attribute("colour"))
        hits["background"].append(judge(frames, 8, Description(wrong_bg, obj())).attribute("background"))
    for attribute, values in hits.items():
        assert np.mean(values) <= 0.1, attribute


def test_judge_fails_noise_and_blank_clips():
    d = parse_canonical("a red circle bouncing on a black background")
    noise = np.random.default_rng(0).integers(0, 256, (16, 64, 64, 3), dtype=np.uint8)
    assert not judge(noise, 8, d).all_correct
    blank = np.zeros((16, 64, 64, 3), np.uint8)
    v = judge(blank, 8, d)
    assert v.background and not v.attribute("colour")


def test_scene_for_fits_the_description():
    d = parse_canonical("a small green triangle moving up and a pink square falling on a gray background")
    scene = scene_for(d, np.random.default_rng(0))
    assert Description.of(scene, name_sizes=False).objects[1] == d.objects[1]
    assert scene.objects[0].size == "small"


def test_the_judge_measures_where_the_world_puts_an_object_to_a_fraction_of_a_pixel():
    from kinema.world.shapes import Scene, SceneObject, positions

    # a resting ball on the floor, where the long-clip judge wants a bounce's lowest points (within 0.03)
    for x, y in ((0.3, 0.6), (0.71, 1 - 0.14)):
        o = SceneObject("red", "circle", "large", "falling", x, y)
        frames = render(Scene("black", (o,)), 64, 8, 1.0)
        track = np.array(judge(frames, 8, Description.of(Scene("black", (o,)))).objects[0].track)
        want = np.stack(positions(o, np.arange(len(frames)) / 8), 1)
        assert np.abs(track - want).max() < 0.15 / 64  # pixel i shows (i + 0.5) / 64: no half-pixel bias
