"""What a latent space lets a denoiser draw: the judge's accuracy on shapes-world clips after an
autoencoder's round trip (encode, decode), beside the clips themselves, at a chosen size.

A latent model can do no better than its autoencoder keeps: if a small triangle comes back from the
round trip as a blob, no denoiser can draw a triangle there. This measures that bound per attribute on
`kinema eval`'s 64 captions (scenes drawn as `kinema eval --rendered` draws them, 2 s at 8 fps).

    python benchmarks/latent_ceiling.py [--autoencoder DIR ...] [--size 64 128] [--refiner DIR] [--json OUT]

With `--refiner`, each round trip is also judged after that folder's refiner (kinema.models.refiner),
given the clip's caption: how much of the lost outline it restores.

(`kinema eval --rendered-keyframes` gives the same bound for a model at its native size, through its
interpolator and upscaler too.)
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kinema.pipeline.reconstruct import reconstruct_clip  # noqa: E402
from kinema.models.components import load_component  # noqa: E402
from kinema.models.refiner import refine_frames  # noqa: E402
from kinema.eval.evaluate import evaluate, format_table, load_captions, rendered_clip  # noqa: E402
from kinema.text.encoder import load_text_encoder  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--autoencoder", nargs="+", default=[str(ROOT / "kinema/weights/default")])
    ap.add_argument("--size", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--refiner", help="folder with refiner.{safetensors,json}: also judge the refined round trips")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    refiner = load_component(args.refiner, "refiner") if args.refiner else None
    encoder = load_text_encoder() if refiner is not None else None
    items = load_captions()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.size:
            render = rendered_clip(0, size, 8.0, 2.0)
            sources = {"rendered": (None, False)} | {folder: (load_component(folder, "autoencoder"), False)
                                                     for folder in args.autoencoder}
            if refiner is not None:
                sources |= {f"{folder} + refiner": (sources[folder][0], True) for folder in args.autoencoder}
            for name, (ae, refine) in sources.items():
                def make(i, item, ae=ae, refine=refine):
                    frames, fps = render(i, item)
                    if ae is not None:
                        frames = reconstruct_clip(ae, frames)
                    if refine:
                        frames = refine_frames(refiner, frames, encoder.encode([item.caption]))
                    return frames, fps

                result = evaluate(items, make, Path(tmp) / f"{size}-{len(results)}")
                results[f"{name} @ {size}"] = result
                print(f"\n{name} at {size}x{size}" + (f" ({ae.cfg.compression})" if ae is not None else ""))
                print(format_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
