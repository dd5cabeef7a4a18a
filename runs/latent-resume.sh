#!/usr/bin/env bash
# bash runs/latent-resume.sh PARENT OUT STEPS COOLDOWN [kinema train options]: the latent keyframe denoiser
# trained on from PARENT's state (its optimizer too, so PARENT must have been trained on this machine) to
# STEPS in all, at lr 3e-4 cooled to 0 over the last COOLDOWN steps. On the first call PARENT's files are
# copied into OUT; a later call resumes OUT where it stopped. DATA is the latent cache (default
# runs/latent-dcae/cache). runs/latent-long, latent-20k, latent-32k, latent-39k, and latent-52k, latent-62k and
# latent-68k (with their own DATA) are this command with their own numbers (their recipe.sh).
set -euo pipefail
parent=$1 out=$2 steps=$3 cooldown=$4
shift 4
if [ ! -e "$out/train_state.json" ]; then
    mkdir -p "$out"
    for f in train_state.json train_state.safetensors denoiser.json denoiser.safetensors \
        autoencoder.json autoencoder.safetensors train_config.json log.jsonl; do
        cp "$parent/$f" "$out/$f"
    done
fi
kinema train --out "$out" --data "${DATA:-runs/latent-dcae/cache}" --preset keyframes \
    --patch 1,2,2 --batch 32 --warmup 200 --caption-dropout 0.1 --seed 1 --checkpoint-every 100 --loss x0 \
    --t-mean 0.5 --t-std 1.0 --lr 3e-4 --ema 0.998 --recaption 0.5 \
    --steps "$steps" --cooldown "$cooldown" --resume "$@"
