"""The processor's fast paths: which precision each part of a model runs in (float32, or bfloat16 where the
processor makes it faster), and compiling the denoiser where it runs long enough to pay back the compile.

    compute_dtype(precision, device, width)  the denoiser's weights (a transformer `width` wide)
    stage_dtype(precision, device)           the convolutional stages: decoding, refining, interpolating, upscaling
    autocast(dtype, device)                  the context they run in (torch.autocast for bf16, nothing for float32)
    compile_forward(module, backend)         torch.compile of a module's forward, in place
    keep_freed_memory()                      glibc's allocator keeps freed blocks instead of unmapping them

precision is "fp32", "bf16" or "auto". auto asks the hardware: on CUDA with bf16 support, bf16; on a CPU with
bf16 matrix units (AVX512-BF16 or AMX, `cpu_bf16_units`), bf16 only where it was measured faster
(`python benchmarks/precision.py`, docs/results.md, session 26): the convolutional stages ran about twice as fast,
while a transformer as narrow as the shipped denoiser (128 wide, 80 tokens) is bound by the kernels' fixed costs
and runs no faster in bf16, so the denoiser stays float32 below CPU_BF16_MIN_WIDTH. Without the units, bf16 runs
many times slower than float32: auto is float32 everywhere there.
"""
from __future__ import annotations

import contextlib
import warnings

PRECISIONS = ("auto", "fp32", "bf16")
CPU_BF16_MIN_WIDTH = 256  # the narrowest transformer for which bf16 was faster on a CPU with bf16 units (1.26x)


# (torch is imported where it is used: the command line reads PRECISIONS before it loads torch)

def cpu_bf16_units() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AVX512-BF16 or AMX tiles), as oneDNN uses them."""
    import torch

    probes = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(bool(probe()) for probe in probes if probe is not None)


def stage_dtype(precision: str, device: torch.device | str) -> torch.dtype:
    """The dtype the convolutional stages compute in: auto is bf16 wherever the device has bf16 in hardware
    (CUDA with bf16 support, a CPU with bf16 units)."""
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be auto, fp32 or bf16, got {precision!r}")
    if precision != "auto":
        return torch.bfloat16 if precision == "bf16" else torch.float32
    device = torch.device(device)
    fast = torch.cuda.is_bf16_supported() if device.type == "cuda" else device.type == "cpu" and cpu_bf16_units()
    return torch.bfloat16 if fast else torch.float32


def compute_dtype(precision: str, device: torch.device | str, width: int | None = None) -> torch.dtype:
    """The dtype of a transformer's matrix products: as stage_dtype, except that auto keeps a transformer
    narrower than CPU_BF16_MIN_WIDTH (or of unknown `width`) in float32 off CUDA."""
    import torch

    narrow = width is None or width < CPU_BF16_MIN_WIDTH
    if precision == "auto" and narrow and torch.device(device).type != "cuda":
        return torch.float32
    return stage_dtype(precision, device)


@contextlib.contextmanager
def autocast(dtype: torch.dtype, device: torch.device | str):
    """A context in which a float32 model computes in `dtype` (its convolutions and matrix products; torch
    keeps reductions and normalisations in float32), or nothing for float32."""
    import torch

    if dtype == torch.float32:
        yield
        return
    with warnings.catch_warnings():  # an RMSNorm of a bf16 input with float32 weights runs unfused: as meant
        warnings.filterwarnings("ignore", message="Mismatch dtype between input and weight")
        with torch.autocast(torch.device(device).type, dtype=dtype):
            yield


def compile_forward(module, backend: str = "inductor"):
    """`module` with its forward compiled by torch.compile (in place: its weights, config and identity stay).
    Measured on the shipped denoiser on 2 CPU cores (docs/results.md, session 26): 29.2 ms a forward eager, 16.6
    compiled, after a 38 s warm-up (inductor's C++ build), so it pays after some 3000 forward passes: in a
    long-running server (`kinema serve --compile`), never within one `kinema generate`. The first call of each new
    input shape compiles (then dynamic shapes: one more); backend "eager" traces without generating code."""
    module.compile(backend=backend)
    return module


def keep_freed_memory() -> bool:
    """Ask glibc's malloc (Linux) to keep freed memory for reuse rather than hand large blocks back to the system:
    allocations up to 32 MiB (its maximum) from the heap instead of fresh mappings, and no trimming below 1 GiB. A
    forward pass on a CPU allocates and frees many activation-sized tensors; each fresh mapping is zeroed page by
    page on first touch. Measured (`kinema bench`'s reference denoiser against diffusers' Wan, float32, alternating
    processes, docs/results.md session 28): kinema 41-50 ms a forward -> 36-41 ms, Wan 38-45 -> 40-42. The same
    advice as PyTorch's CPU performance guide (jemalloc or tcmalloc, or these glibc settings). Process-wide; the
    resident memory stays near its peak. Returns whether it took effect (False off glibc)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    return bool(mallopt(M_MMAP_THRESHOLD, 32 * 2**20)) and bool(mallopt(M_TRIM_THRESHOLD, 2**30))
