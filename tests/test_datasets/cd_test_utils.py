"""Helpers for the dataset tests: tiny change-detection folders on disk.

Imported by the test modules of this folder as ``cd_test_utils`` (pytest
puts the folder on ``sys.path``).
"""
from pathlib import Path

import cv2
import numpy as np

import mmcd  # noqa: F401 (registers everything)
from mmcd.registry import TRANSFORMS

META_KEYS = ('img_path', 'img_path2', 'seg_map_path', 'ori_shape',
             'img_shape', 'pad_shape', 'scale_factor', 'flip',
             'flip_direction')


def imwrite(path, img, quality=95):
    """Write an RGB (or single-channel) uint8 image; creates folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if img.ndim == 3 and img.shape[2] == 3:
        img = img[..., ::-1]
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix in (
        '.jpg', '.jpeg') else []
    assert cv2.imwrite(str(path), np.ascontiguousarray(img), params)
    return path


def random_rgb(rng, h=16, w=16):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def blocky_mask(rng, h=16, w=16):
    """A 0/1 mask made of a couple of rectangles (JPEG-friendly)."""
    m = np.zeros((h, w), np.uint8)
    for _ in range(2):
        y, x = rng.integers(0, h - 4), rng.integers(0, w - 4)
        m[y:y + int(rng.integers(3, h - y)),
          x:x + int(rng.integers(3, w - x))] = 1
    return m


def write_cd_folder(root, names, a='A', b='B', label='label', img_ext='.png',
                    label_ext='.png', size=16, seed=0, label_scale=255):
    """Write pairs ``root/{a,b,label}/<name><ext>``; return the arrays."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    arrays = {}
    for name in names:
        img_a, img_b = random_rgb(rng, size, size), random_rgb(rng, size, size)
        mask = blocky_mask(rng, size, size)
        imwrite(root / a / f'{name}{img_ext}', img_a)
        imwrite(root / b / f'{name}{img_ext}', img_b)
        if label is not None:
            imwrite(root / label / f'{name}{label_ext}', mask * label_scale)
        arrays[name] = (img_a, img_b, mask)
    return arrays


def build_pipeline(cfgs):
    """Build transforms through mmcd's (mmseg's) registry, independent of
    the global default scope."""
    return [TRANSFORMS.build(cfg) for cfg in cfgs]
