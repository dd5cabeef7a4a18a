#!/bin/sh
# Rebuild kinema's whole default model from nothing on one machine, then ship it to kinema/weights/default.
# Expected time on 2 CPU cores: ~16 h (autoencoder 3.9 h, latent cache 0.4 h, denoiser 6.4 h, verifier 1.4 h,
# interpolator 0.5 h, upscaler 0.4 h, refiner 1.4 h, the given-frames fine-tune 0.5 h, the long-clip one 1.5 h).
# Each step continues where it stopped when run again.
#
#   sh recipes/default.sh              # from the repository root, after `pip install -e ".[real]"`
#   RUNS=/data/runs sh recipes/default.sh
. "$(dirname "$0")/common.sh"
here=$(dirname "$0")
sh "$here/autoencoder.sh"
sh "$here/denoiser.sh"
sh "$here/verifier.sh"
sh "$here/interpolator.sh"
FIRST="$RUNS/upscaler-gated" sh "$here/upscaler.sh"
# the denoiser with its autoencoder, verifier, interpolator and upscaler, at the shipped sampling defaults
python "$here/ship.py" "$RUNS/denoiser" --autoencoder "$RUNS/autoencoder" --verifier "$RUNS/verifier" \
    --interpolator "$RUNS/interpolator-h264" --upscaler "$RUNS/upscaler-gated" \
    --upscaler-light "$RUNS/upscaler-folded-long" \
    --steps 20 --guidance 4 --sampler euler --shift 3 --guidance-interval 0.2 1 --eta 1 --candidates 2 --refine-passes 1
# the refiner learns from the model just shipped (its decoder and its denoiser's estimates), then ships too
MODEL=kinema/weights/default sh "$here/refiner.sh"
python "$here/ship.py" --refiner "$RUNS/refiner"
# the denoiser taught to go on from given frames (pictures, clips, long clips), at the same sampling defaults
sh "$here/conditioned.sh"
python "$here/ship.py" "$RUNS/conditioned" --recipe recipes/conditioned.sh
# ... and taught long clips: windows from later in a long clip (walls, landings, lower bounces)
sh "$here/long.sh"
python "$here/ship.py" "$RUNS/long" --recipe recipes/long.sh
# ... and taught to be directed (a layout: tracks, a camera, the plan), with the planner that reads prompts for the plan
sh "$here/planner.sh"
sh "$here/directed.sh"
python "$here/ship.py" "$RUNS/directed" --recipe recipes/directed.sh --planner "$RUNS/planner"
