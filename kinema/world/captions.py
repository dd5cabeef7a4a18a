"""Captions for shapes-world scenes: the canonical form, paraphrases, and parsing back.

A `Description` is what a caption says (background; per object colour, shape, optional size,
motion), with no positions. `canonical()` writes the canonical caption of shapes-world.md,
`paraphrase()` writes the same meaning in other words (synonyms, other sentence forms), and
`parse_canonical()` reads a canonical caption back. Two template sets exist: the training set and
a held-out set used only by the evaluation captions, so that paraphrase accuracy measures
generalisation to unseen wording.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from kinema.world.shapes import BACKGROUNDS, OBJECT_COLOURS, SHAPES, Scene


@dataclass(frozen=True)
class ObjectDescription:
    colour: str
    shape: str
    size: str | None  # None: the caption allows either size
    motion: str | None  # None: the caption names no motion (the object follows a track)


@dataclass(frozen=True)
class Description:
    background: str
    objects: tuple[ObjectDescription, ...]
    camera: str = "still"

    @staticmethod
    def of(scene: Scene, name_sizes: bool = True) -> "Description":
        return Description(scene.background, tuple(
            ObjectDescription(o.colour, o.shape, o.size if name_sizes else None, None if o.track else o.motion)
            for o in scene.objects), scene.camera)


MOTION_WORDS = {"still": "standing still", "left": "moving left", "right": "moving right",
                "up": "moving up", "down": "moving down", "falling": "falling", "bouncing": "bouncing"}


CAMERA_WORDS = {"pan left": "pans left", "pan right": "pans right", "pan up": "pans up", "pan down": "pans down",
                "zoom in": "zooms in", "zoom out": "zooms out"}  # v2: "... as the camera <words>"


def object_phrase(o: ObjectDescription) -> str:
    """The canonical noun phrase of an object, without its motion: `a [small |large ]<colour> <shape>`."""
    size = f"{o.size} " if o.size else ""
    return f"a {size}{o.colour} {o.shape}"


def _canonical_object(o: ObjectDescription) -> str:
    return object_phrase(o) + (f" {MOTION_WORDS[o.motion]}" if o.motion else "")


def canonical(d: Description) -> str:
    """`a [small |large ]<colour> <shape>[ <motion>][ and a ...] on a <background> background[ as the camera
    <words>]` (v2: an object with a track may name no motion)."""
    camera = f" as the camera {CAMERA_WORDS[d.camera]}" if d.camera != "still" else ""
    return " and ".join(_canonical_object(o) for o in d.objects) + f" on a {d.background} background" + camera


_OBJ_RE = (r"a (?:(small|large) )?(" + "|".join(OBJECT_COLOURS) + r") (" + "|".join(SHAPES) + r")(?: ("
           + "|".join(MOTION_WORDS.values()) + r"))?")
_CANON_RE = re.compile(rf"^{_OBJ_RE}(?: and {_OBJ_RE})? on a ({'|'.join(BACKGROUNDS)}) background"
                       rf"(?: as the camera ({'|'.join(CAMERA_WORDS.values())}))?$")
_MOTION_OF = {v: k for k, v in MOTION_WORDS.items()}
_CAMERA_OF = {v: k for k, v in CAMERA_WORDS.items()}


def parse_canonical(caption: str) -> Description:
    """Read a canonical caption back into a Description; ValueError if it is not canonical."""
    m = _CANON_RE.match(caption.strip().lower())
    if not m:
        raise ValueError(f"not a canonical shapes-world caption: {caption!r}")
    g = m.groups()
    objects = [ObjectDescription(g[1], g[2], g[0], _MOTION_OF.get(g[3]))]
    if g[5]:
        objects.append(ObjectDescription(g[5], g[6], g[4], _MOTION_OF.get(g[7])))
    if len({o.colour for o in objects}) != len(objects):
        raise ValueError(f"two objects of the same colour in {caption!r}")
    return Description(g[8], tuple(objects), _CAMERA_OF[g[9]] if g[9] else "still")


# ---------------------------------------------------------------------------------------------
# Paraphrases. Each motion has participle phrases ("-ing", used after the noun) and finite verb
# phrases (used as the sentence's verb).
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Vocabulary:
    shapes: dict[str, tuple[str, ...]]
    sizes: dict[str, tuple[str, ...]]
    participles: dict[str, tuple[str, ...]]
    verbs: dict[str, tuple[str, ...]]
    backgrounds: dict[str, tuple[str, ...]]
    scene_templates: tuple[str, ...]  # {objs} = objects with participles, {bg} = background word
    clause_templates: tuple[str, ...]  # {subj} {verb} for sentences with finite verbs
    bg_phrases: tuple[str, ...]  # how a finite-verb sentence names its background
    cameras: dict[str, tuple[str, ...]]  # v2: how a caption ends when the camera moves


TRAIN = Vocabulary(
    shapes={"circle": ("circle", "ball", "disc", "dot", "round shape"),
            "square": ("square", "box", "block", "tile", "square shape"),
            "triangle": ("triangle", "wedge", "triangular shape", "pyramid shape")},
    sizes={"small": ("small", "little", "tiny"), "large": ("large", "big", "huge")},
    participles={
        "still": ("standing still", "staying still", "sitting still", "not moving", "resting in place",
                  "staying put", "motionless", "stationary"),
        "left": ("moving left", "sliding left", "going left", "drifting to the left", "heading left",
                 "moving to the left", "travelling leftwards", "gliding left"),
        "right": ("moving right", "sliding right", "going right", "drifting to the right", "heading right",
                  "moving to the right", "travelling rightwards", "gliding right"),
        "up": ("moving up", "rising", "going up", "drifting upwards", "sliding up", "moving upward",
               "floating up", "climbing steadily"),
        "down": ("moving down", "sliding down", "going down", "drifting downwards", "moving downward",
                 "sinking steadily", "descending slowly", "gliding down"),
        "falling": ("falling", "dropping", "falling down", "dropping to the floor", "falling to the ground",
                    "tumbling down", "plummeting", "dropping down"),
        "bouncing": ("bouncing", "bouncing up and down", "bouncing on the floor", "bouncing along",
                     "bouncing off the ground", "hopping up and down", "bounding", "rebounding off the floor"),
    },
    verbs={
        "still": ("stands still", "stays still", "sits still", "does not move", "rests in place", "stays put"),
        "left": ("moves left", "slides left", "goes left", "drifts to the left", "heads left", "glides left"),
        "right": ("moves right", "slides right", "goes right", "drifts to the right", "heads right",
                  "glides right"),
        "up": ("moves up", "rises", "goes up", "drifts upwards", "slides up", "floats up"),
        "down": ("moves down", "slides down", "goes down", "drifts downwards", "sinks steadily",
                 "descends slowly"),
        "falling": ("falls", "drops", "falls down", "drops to the floor", "falls to the ground", "plummets"),
        "bouncing": ("bounces", "bounces up and down", "bounces on the floor", "hops up and down",
                     "rebounds off the floor", "bounces along"),
    },
    # Backgrounds in words from both ends of the light-dark axis (dim, shadowy / pale, luminous), so that
    # the model reads where a word lies on that axis rather than learning three tokens by heart. The
    # held-out "bright" is in none of them (only inside "bright white").
    backgrounds={"black": ("black", "dark", "pitch black", "jet black", "dim", "unlit", "shadowy", "coal black"),
                 "white": ("white", "bright white", "light", "pale", "snow white", "luminous", "whitish",
                           "brilliant white"),
                 "gray": ("gray", "grey", "neutral gray", "mid gray", "ash gray", "slate gray", "greyish",
                          "medium grey")},
    scene_templates=("{objs} on a {bg} background", "{objs} against a {bg} backdrop",
                     "on a {bg} background, {objs}", "{objs}, {bg} background", "{objs} over a {bg} background",
                     "a {bg} background with {objs}", "a clip of {objs} on a {bg} background",
                     "video of {objs} on {bg}"),
    clause_templates=("{subj} {verb}", ),
    bg_phrases=("on a {bg} background", "against a {bg} backdrop", "over a {bg} background",
                "in front of a {bg} background"),
    cameras={"pan left": ("as the camera pans left", "while the view slides left", "with the camera panning left",
                          "as the camera moves to the left", "while the camera pans to the left"),
             "pan right": ("as the camera pans right", "while the view slides right", "with the camera panning right",
                           "as the camera moves to the right", "while the camera pans to the right"),
             "pan up": ("as the camera pans up", "while the view slides up", "with the camera panning up",
                        "as the camera tilts up", "while the camera pans upwards"),
             "pan down": ("as the camera pans down", "while the view slides down", "with the camera panning down",
                          "as the camera tilts down", "while the camera pans downwards"),
             "zoom in": ("as the camera zooms in", "while zooming in", "with the camera zooming in",
                         "as the view closes in", "while the camera moves closer"),
             "zoom out": ("as the camera zooms out", "while zooming out", "with the camera zooming out",
                          "as the view widens", "while the camera pulls back")},
)

HELD_OUT = Vocabulary(
    shapes={"circle": ("circle", "ball", "disc"), "square": ("square", "box", "block"),
            "triangle": ("triangle", "wedge")},
    sizes={"small": ("small", "little"), "large": ("large", "big")},
    participles={
        "still": ("that is not moving at all", "that stays where it is", "that remains still"),
        "left": ("that travels to the left", "that keeps moving left", "that slides towards the left"),
        "right": ("that travels to the right", "that keeps moving right", "that slides towards the right"),
        "up": ("that travels upwards", "that keeps moving up", "that rises steadily"),
        "down": ("that travels downwards", "that keeps moving down", "that slides steadily down"),
        "falling": ("that falls to the floor", "that drops down", "that is falling"),
        "bouncing": ("that keeps bouncing", "that bounces on the floor", "that is bouncing"),
    },
    verbs={
        "still": ("remains still", "stays where it is"), "left": ("travels left", "keeps moving left"),
        "right": ("travels right", "keeps moving right"), "up": ("travels upwards", "keeps rising"),
        "down": ("travels downwards", "keeps sliding down"), "falling": ("falls to the floor", "drops down"),
        "bouncing": ("keeps bouncing", "bounces off the floor"),
    },
    backgrounds={"black": ("black", "dark"), "white": ("white", "bright"), "gray": ("gray", "grey")},
    scene_templates=("there is {objs}, and the background is {bg}", "we see {objs} in front of a {bg} background",
                     "the background is {bg}; {objs}"),
    clause_templates=("{subj} {verb}", ),
    bg_phrases=("and the background is {bg}", "with a {bg} background behind it"),
    cameras={"pan left": ("and the camera sweeps to the left",), "pan right": ("and the camera sweeps to the right",),
             "pan up": ("and the camera sweeps upwards",), "pan down": ("and the camera sweeps downwards",),
             "zoom in": ("and the camera pushes in",), "zoom out": ("and the camera draws back",)},
)


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _noun_phrase(o: ObjectDescription, v: Vocabulary, rng: np.random.Generator) -> str:
    size = f"{_pick(rng, v.sizes[o.size])} " if o.size else ""
    return f"a {size}{o.colour} {_pick(rng, v.shapes[o.shape])}"


def paraphrase(d: Description, rng: np.random.Generator, vocab: Vocabulary = TRAIN) -> str:
    """The meaning of `d` in other words, drawn from `vocab` with `rng`."""
    bg = _pick(rng, vocab.backgrounds[d.background])
    camera = f" {_pick(rng, vocab.cameras[d.camera])}" if d.camera != "still" else ""
    if rng.random() < 0.7 or any(o.motion is None for o in d.objects):  # noun phrases with participles
        parts = [_noun_phrase(o, vocab, rng) + (f" {_pick(rng, vocab.participles[o.motion])}" if o.motion else "")
                 for o in d.objects]
        joiner = _pick(rng, (" and ", ", and ", " together with ")) if len(parts) > 1 else ""
        return _pick(rng, vocab.scene_templates).format(objs=joiner.join(parts), bg=bg) + camera
    clauses = [f"{_noun_phrase(o, vocab, rng)} {_pick(rng, vocab.verbs[o.motion])}" for o in d.objects]
    joiner = _pick(rng, (" and ", " while ", ", and ")) if len(clauses) > 1 else ""
    return f"{joiner.join(clauses)} {_pick(rng, vocab.bg_phrases).format(bg=bg)}" + camera


def training_caption(scene: Scene, rng: np.random.Generator, p_canonical: float = 0.3,
                     p_size: float = 0.6) -> str:
    """A caption for training: canonical or paraphrased, naming sizes or not."""
    return training_words(scene, rng, p_canonical, p_size)[0]


def training_words(scene: Scene, rng: np.random.Generator, p_canonical: float = 0.3,
                   p_size: float = 0.6) -> tuple[str, Description]:
    """`training_caption`'s caption and what it says (sizes only where it names them)."""
    d = Description.of(scene, name_sizes=bool(rng.random() < p_size))
    return (canonical(d) if rng.random() < p_canonical else paraphrase(d, rng, TRAIN)), d





def scene_for(d: Description, rng: np.random.Generator, tracks: dict | None = None) -> Scene:
    """A scene that fits a description: unnamed sizes drawn at random (small where a track would take a large
    body out of the world), starts as the sampler draws (wholly in view with a camera), and object k following
    `tracks[k]` (kinema.world.tracks) where given. An object with neither motion nor track stands still."""
    from dataclasses import replace

    from kinema.world.shapes import SIZES, place

    objects = []
    for k, o in enumerate(d.objects):
        track = (tracks or {}).get(k)
        size = o.size or ("small", "large")[int(rng.integers(2))]
        if track is not None and not o.size and any(not SIZES[size] <= v <= 1 - SIZES[size] for p in track for v in p[1:]):
            size = "small"
        try:
            obj = place(rng, o.colour, o.shape, size, o.motion or "still", d.camera)
        except ValueError:  # too big to stay in view as the camera moves: an unnamed size can be the other
            if o.size:
                raise
            size = "small" if size == "large" else "large"
            obj = place(rng, o.colour, o.shape, size, o.motion or "still", d.camera)
        if track is not None:
            obj = replace(obj, x0=track[0][1], y0=track[0][2], track=tuple(track))
        objects.append(obj)
    return Scene(d.background, tuple(objects), d.camera)
