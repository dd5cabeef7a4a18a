"""Temporal consistency from optical flow: the warping error between neighbouring frames.

For each pair of neighbouring frames (k, k+1), dense optical flow from k to k+1 (OpenCV's DIS,
Kroeger et al. 2016, "Fast Optical Flow using Dense Inverse Search") tells where each pixel of
frame k went; frame k+1 sampled there should be frame k again. The mean absolute difference (0-255
scale, all pixels and channels) is the warping error: flicker, popping and smearing raise it,
smooth motion does not. Rendered shapes-world clips give the floor to compare a model against.
"""
from __future__ import annotations

import numpy as np


def warp_error(frames: np.ndarray) -> float:
    """Mean warping error of uint8 frames (T, H, W, 3) over neighbouring pairs; 0.0 for one frame."""
    import cv2

    if len(frames) < 2:
        return 0.0
    h, w = frames.shape[1:3]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    errors = []
    for k in range(len(frames) - 1):
        flow = dis.calc(gray[k], gray[k + 1], None)  # (H, W, 2): where pixel (x, y) of frame k moved
        warped = cv2.remap(frames[k + 1], grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        errors.append(np.abs(warped.astype(np.float32) - frames[k].astype(np.float32)).mean())
    return float(np.mean(errors))
