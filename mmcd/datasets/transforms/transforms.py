"""Pair-aware data augmentation for ``H x W x 2C`` change-detection inputs.

Purely geometric transforms (mmcv/mmseg ``RandomFlip``, ``RandomCrop``,
``Resize``, ``Pad``...) act on every channel alike and need no pair-aware
version; the transforms here are the ones whose meaning is per date, plus
the exact quarter-turn rotation used by LSNet.
"""
from typing import Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmseg.datasets.transforms import PhotoMetricDistortion

from mmcd.registry import TRANSFORMS


def split_pair(img: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Split an ``H x W x 2C`` pair image into its two ``H x W x C`` dates."""
    if img.ndim != 3 or img.shape[2] % 2:
        raise ValueError(
            'a change-detection image must be H x W x 2C (date A\'s C '
            f'channels first, then date B\'s); got shape {img.shape}')
    c = img.shape[2] // 2
    return img[..., :c], img[..., c:]


@TRANSFORMS.register_module()
class PairPhotoMetricDistortion(PhotoMetricDistortion):
    """mmseg's :class:`PhotoMetricDistortion`, drawn independently per date.

    The ``H x W x 2C`` image is split into date A and date B, each date gets
    its own random brightness, contrast, saturation and hue (in its own
    random order, as in the parent), and the dates are concatenated again.
    Independent draws mimic the illumination and season differences between
    acquisitions, which a change detector must learn to ignore. Shape and
    dtype are kept. Saturation and hue need 3 channels per date; for other
    channel counts (e.g. multispectral) only brightness and contrast apply.

    Required Keys:

    - img

    Modified Keys:

    - img

    Args:
        brightness_delta (int): Delta of brightness. Defaults to 32.
        contrast_range (Sequence[float]): Range of contrast.
            Defaults to (0.5, 1.5).
        saturation_range (Sequence[float]): Range of saturation.
            Defaults to (0.5, 1.5).
        hue_delta (int): Delta of hue. Defaults to 18.
    """

    def saturation(self, img: np.ndarray) -> np.ndarray:
        """Saturation distortion (3-channel dates only)."""
        if img.shape[2] != 3:
            return img
        return super().saturation(img)

    def hue(self, img: np.ndarray) -> np.ndarray:
        """Hue distortion (3-channel dates only)."""
        if img.shape[2] != 3:
            return img
        return super().hue(img)

    def transform(self, results: dict) -> dict:
        """Distort date A and date B independently.

        Args:
            results (dict): Result dict with the ``H x W x 2C`` ``img``.

        Returns:
            dict: Result dict with the distorted ``img``.
        """
        img = results['img']
        dtype = img.dtype
        halves = []
        for half in split_pair(img):
            out = super().transform(dict(img=np.ascontiguousarray(half)))
            halves.append(out['img'].astype(dtype, copy=False))
        results['img'] = np.concatenate(halves, axis=2)
        return results


@TRANSFORMS.register_module()
class ExchangeTime(BaseTransform):
    """Swap dates A and B with probability ``prob``.

    Change is symmetric, so the change mask stays as it is.

    Required Keys:

    - img

    Modified Keys:

    - img

    Args:
        prob (float): Probability of swapping the dates. Defaults to 0.5.
    """

    def __init__(self, prob: float = 0.5) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1]; got {prob}')
        self.prob = prob

    @cache_randomness
    def _do_swap(self) -> bool:
        return bool(np.random.rand() < self.prob)

    def transform(self, results: dict) -> dict:
        """Swap the two channel halves of ``img`` with probability ``prob``.

        Args:
            results (dict): Result dict with the ``H x W x 2C`` ``img``.

        Returns:
            dict: Result dict, dates possibly swapped.
        """
        img_a, img_b = split_pair(results['img'])
        if self._do_swap():
            results['img'] = np.concatenate([img_b, img_a], axis=2)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'


@TRANSFORMS.register_module()
class RandomRot90(BaseTransform):
    """Rotate the pair and its masks by a random multiple of 90 degrees.

    With probability ``prob`` the sample is rotated counter-clockwise by
    90, 180 or 270 degrees (chosen uniformly); otherwise it is left as it
    is. The default ``prob=0.75`` makes the number of quarter turns uniform
    over {0, 1, 2, 3}, as in LSNet. The rotation is exact (``np.rot90``, no
    interpolation) and applied to ``img`` and every entry of ``seg_fields``.

    Required Keys:

    - img
    - seg_fields (optional)

    Modified Keys:

    - img
    - img_shape
    - every key listed in seg_fields (e.g. gt_seg_map)

    Added Keys:

    - rot90_k (int): the number of counter-clockwise quarter turns applied.

    Args:
        prob (float): Probability of rotating at all. Defaults to 0.75.
    """

    def __init__(self, prob: float = 0.75) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1]; got {prob}')
        self.prob = prob

    @cache_randomness
    def _random_k(self) -> int:
        if np.random.rand() >= self.prob:
            return 0
        return int(np.random.randint(1, 4))

    def transform(self, results: dict) -> dict:
        """Rotate ``img`` and the seg fields by the same quarter turns.

        Args:
            results (dict): Result dict from loading pipeline.

        Returns:
            dict: Result dict with the rotated image and masks.
        """
        k = self._random_k()
        results['rot90_k'] = k
        if k == 0:
            return results
        results['img'] = np.ascontiguousarray(
            np.rot90(results['img'], k, axes=(0, 1)))
        for key in results.get('seg_fields', []):
            if key in results:
                results[key] = np.ascontiguousarray(
                    np.rot90(results[key], k, axes=(0, 1)))
        results['img_shape'] = results['img'].shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'
