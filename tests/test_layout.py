"""The house's shape: which package may import which, one definition of a clip's settings, the spec in the repo."""
from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "kinema"

# Each package and the packages it may import (itself included). Inference (pipeline, server) never reaches
# training code (data, train); the world, the models and the maths know nothing above them; only the command
# line sees everything.
ALLOWED = {
    "io": {"io"},
    "text": {"io", "text"},
    "world": {"world"},
    "models": {"io", "text", "world", "models"},
    "diffusion": {"text", "diffusion"},
    "pipeline": {"io", "text", "world", "models", "diffusion", "pipeline"},
    "data": {"io", "text", "world", "models", "diffusion", "data"},
    "train": {"io", "text", "world", "models", "diffusion", "data", "train"},
    "eval": {"io", "text", "world", "models", "diffusion", "pipeline", "eval"},
    "server": {"io", "world", "models", "pipeline", "server"},
}


def kinema_imports(path: Path) -> set[str]:
    """The kinema packages a module imports (kinema.X.y -> X), at any depth of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
        found |= {n.split(".")[1] for n in names if n.startswith("kinema.") and n.count(".") >= 1}
    return found


def test_no_package_imports_one_above_it():
    assert set(ALLOWED) | {"cli", "weights"} == {p.name for p in PACKAGE.iterdir() if p.is_dir()
                                                  and p.name != "__pycache__"}
    wrong = [f"{path.relative_to(ROOT)} imports kinema.{name}"
             for package, allowed in ALLOWED.items() for path in sorted((PACKAGE / package).rglob("*.py"))
             for name in sorted(kinema_imports(path) - allowed)]
    assert not wrong, "\n".join(wrong)


def test_cli_options_and_http_schema_come_from_clip_settings():
    """Every ClipSettings field is a `generate` and `eval` option and a field of the HTTP request, with the same
    default, and nothing else is a clip setting there (so the three cannot drift apart); besides them the request
    has the prompt and what the clip is given (the CLI's --image, --last-image, --extend, --storyboard, --tracks)."""
    from kinema.cli.main import build_parser
    from kinema.pipeline.settings import ClipSettings, bounds
    from kinema.server.app import JobRequest

    names = [f.name for f in fields(ClipSettings)]
    sub = build_parser()._subparsers._group_actions[0].choices
    for command in ("generate", "eval"):
        options = {a.dest: a for a in sub[command]._actions}
        for f in fields(ClipSettings):
            assert f.name in options and options[f.name].default == f.default, (command, f.name)
            if bounds()[f.name].choices:
                assert tuple(options[f.name].choices) == bounds()[f.name].choices
    schema = JobRequest.model_json_schema()["properties"]
    given = {"image", "last_image", "extend", "storyboard", "tracks"}
    assert set(schema) == {"prompt", *names, *given}
    assert given <= {a.dest for a in sub["generate"]._actions}
    for f in fields(ClipSettings):
        b = bounds()[f.name]
        spec = schema[f.name]
        spec = next((s for s in spec.get("anyOf", [spec]) if s.get("type") not in (None, "null")), spec)
        if b.lo is not None and f.name != "guidance_interval":
            assert spec.get("exclusiveMinimum" if b.lo_open else "minimum") == b.lo, f.name
            assert spec.get("maximum") == b.hi, f.name
        if f.name != "seed":
            assert JobRequest.model_fields[f.name].default == f.default, f.name


def test_the_shapes_world_spec_in_the_repository_is_the_shared_one():
    shared = ROOT.parent / "shared" / "shapes-world.md"
    if not shared.is_file():
        pytest.skip("no ../shared beside this checkout")
    assert (PACKAGE / "world" / "spec.md").read_text() == shared.read_text()
