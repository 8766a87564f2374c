"""Helpers of the inference API tests."""
import os.path as osp

import numpy as np
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def smooth_image(rng, h, w, c=3):
    """A textured uint8 image (random blobs, smoothed)."""
    small = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, c)).astype(
        np.uint8)
    big = np.array(Image.fromarray(small).resize(
        (w, h), Image.BILINEAR))
    noise = rng.integers(-20, 21, big.shape)
    return np.clip(big.astype(int) + noise, 0, 255).astype(np.uint8)


def make_pair(seed, h, w):
    rng = np.random.default_rng(seed)
    a = smooth_image(rng, h, w)
    b = a.copy()
    b[h // 4:h // 2, w // 3:w // 2] = 255 - b[h // 4:h // 2, w // 3:w // 2]
    return a, b


def write_png(path, img):
    Image.fromarray(img).save(path)
    return str(path)
