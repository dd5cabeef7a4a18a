"""Components on disk: `NAME.safetensors` (weights) beside `NAME.json` (config and metadata).

Nothing here unpickles: weights are safetensors, everything else is JSON. The JSON records the
weights file's SHA-256 (`sha256`), checked on every load, so damaged weights are refused rather than
run. Files are written to a temporary name in the same folder (`.NAME.*.kinema-tmp*`, locked by its
writer) and renamed, so a crash never leaves a half-written file; the temporary files a killed
writer leaves behind are removed at the next write to that folder.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or does not fit what it is loaded into."""


TEMP_MARK = ".kinema-tmp"


def remove_stale_temps(folder: Path) -> list[Path]:
    """Remove the temporary files of writers that died in `folder` (a live writer holds a lock on its own)."""
    removed = []
    for tmp in Path(folder).glob(f".*{TEMP_MARK}*"):
        try:
            with open(tmp, "rb") as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # taken: nobody is writing it
                tmp.unlink()
                removed.append(tmp)
        except (BlockingIOError, FileNotFoundError, IsADirectoryError, PermissionError):
            continue
    return removed


@contextmanager
def temporary_beside(path: Path, suffix: str = ""):
    """A locked temporary file in `path`'s folder, for a writer to fill and `publish`; removed if still there at
    the end. Stale temporary files of dead writers in that folder go first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_MARK + suffix, dir=path.parent)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield Path(tmp)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        os.close(fd)


def publish(tmp: Path, path: Path) -> None:
    """Give a finished temporary file the usual mode (mkstemp makes 0600) and rename it over `path`."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def atomic_write(path: Path, write) -> None:
    """Call write(tmp_path), then rename tmp_path to path."""
    with temporary_beside(path) as tmp:
        write(tmp)
        publish(tmp, Path(path))


def file_digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def save_json(path: Path, data: dict) -> None:
    atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=2) + "\n"))


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    atomic_write(path, lambda p: save_file(tensors, str(p), metadata=metadata))


def save_component(folder: str | Path, name: str, state: dict[str, torch.Tensor], config: dict,
                   dtype: torch.dtype | None = None) -> None:
    """Write folder/name.safetensors (cast to dtype if given) and folder/name.json, with the weights' digest."""
    folder = Path(folder)
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    save_tensors(folder / f"{name}.safetensors", state)
    save_json(folder / f"{name}.json", {**config, "sha256": file_digest(folder / f"{name}.safetensors")})


def load_json(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"missing {path}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} does not hold a JSON object")
    return data


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"missing {path}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file: {e}") from None


def read_component(folder: str | Path, name: str) -> tuple[dict[str, torch.Tensor], dict]:
    """(weights, config) of folder/name.{safetensors,json}, with CheckpointError on any fault."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"no model folder at {folder}")
    config = load_json(folder / f"{name}.json")
    weights = folder / f"{name}.safetensors"
    if "sha256" in config and weights.is_file() and file_digest(weights) != config["sha256"]:
        raise CheckpointError(f"{weights}: damaged: its digest is not the one {name}.json records")
    return load_tensors(weights), config


def load_state_into(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str,
                    allow_missing: bool = False, allow_reshaped: bool = False) -> list[str]:
    """Load weights strictly, turning shape or key mismatches into CheckpointError. With `allow_missing`,
    tensors the module has and `state` lacks keep their values; with `allow_reshaped`, so do those `state`
    holds in another shape (a denoiser whose patch size changed: its patch embedding and output layer).
    Returns the names of the tensors that kept their values (never with a module `built_empty`)."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and own[k].shape != state[k].shape]
    if (missing and not allow_missing) or unexpected or (wrong and not allow_reshaped):
        bad = [] if allow_missing else missing
        bad_shapes = [] if allow_reshaped else wrong
        raise CheckpointError(f"{source} does not match its config: {len(bad)} missing, "
                              f"{len(unexpected)} unexpected, {len(bad_shapes)} mis-shaped tensors"
                              + (f" (e.g. {(bad + unexpected + bad_shapes)[0]})"))
    module.load_state_dict({**own, **{k: v.to(own[k].dtype) for k, v in state.items() if k not in wrong}})
    return sorted(missing + wrong)


def built_empty(factory: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """factory() without the random initialisation that loading a checkpoint overwrites (a third of the shipped
    model's load time on a CPU): torch.nn.init's functions leave their tensors as allocated meanwhile. Fill it
    with load_state_into, which refuses a checkpoint that lacks any of its tensors.

    The functions are swapped process-wide while it builds: build in one thread at a time (kinema loads models
    once, in one thread: each server worker is a process of its own). Not the meta device: its Python kernels
    for normal_ and friends import torch._dynamo, a second's work."""
    import torch.nn.init as init

    names = [n for n in dir(init) if n.endswith("_") and not n.startswith("_") and callable(getattr(init, n))]
    saved = {n: getattr(init, n) for n in names}
    try:
        for n in names:
            setattr(init, n, _left_as_allocated)
        return factory()
    finally:
        for n, f in saved.items():
            setattr(init, n, f)


def _left_as_allocated(tensor: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    return tensor
