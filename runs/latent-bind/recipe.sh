#!/usr/bin/env bash
# The shipped latent denoiser (runs/latent-recap step 11500) trained on with the binding loss
# (kinema/train/binding.py): for 8 two-object clips of each batch, the caption must predict the clip better,
# by 20% of its error, than the same wording with one attribute exchanged between the two objects.
# `benchmarks/caption_sensitivity.py --two-objects` found the shipped model blind to that exchange
# (+0-1.5% error), so it puts the right words on the wrong objects. Weight 0.15: on the shipped model the
# binding loss's gradient is ~3-5x the flow loss's (/tmp calibration on 3 batches of the cache), so it adds
# about half again. runs/latent-recap's optimizer state is not kept, so this starts from its weights
# (--init: fresh AdamW, warm-up) with the same data, sampler of timesteps and recaptioning.
set -euo pipefail
resume=()
[ -f runs/latent-bind/train_state.json ] && resume=(--resume)
kinema train --out runs/latent-bind --init runs/latent-recap --data runs/latent-dcae/cache --preset keyframes \
    --patch 1,2,2 --batch 32 --warmup 200 --caption-dropout 0.1 --seed 1 --checkpoint-every 100 --loss x0 \
    --t-mean 0.5 --t-std 1.0 --lr 3e-4 --ema 0.998 --recaption 0.5 --binding-weight 0.15 --binding-items 8 \
    --binding-margin 0.2 --steps "${STEPS:-1500}" --cooldown "${COOLDOWN:-500}" "${resume[@]}" "$@"
