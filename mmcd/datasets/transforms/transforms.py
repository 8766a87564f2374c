"""Pair-aware data augmentation for ``H x W x 2C`` change-detection inputs.

Purely geometric transforms (mmcv/mmseg ``RandomFlip``, ``RandomCrop``,
``Resize``, ``Pad``...) act on every channel alike and need no pair-aware
version; the transforms here are the ones whose meaning is per date, plus
the exact quarter-turn rotation used by LSNet.
"""
from typing import Optional, Tuple

import cv2
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


def _check_8bit_range(img: np.ndarray, name: str) -> None:
    """Refuse integer data other than uint8 in a transform working in
    units of 255."""
    if np.issubdtype(img.dtype, np.integer) and img.dtype != np.uint8:
        raise ValueError(
            f'{name} works in the 8-bit range (0..255); the image is '
            f'{img.dtype}: use PairPhotometricJitter with value_range=(lo, '
            'hi) for 16-bit data')


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
    It works in the 8-bit range (uint8, or float in 0..255); other integer
    types are refused: use :class:`PairPhotometricJitter` for 16-bit data.

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
        _check_8bit_range(img, self.__class__.__name__)
        halves = []
        for half in split_pair(img):
            out = super().transform(dict(img=np.ascontiguousarray(half)))
            halves.append(out['img'].astype(dtype, copy=False))
        results['img'] = np.concatenate(halves, axis=2)
        return results


@TRANSFORMS.register_module()
class PairBrightnessContrastBlur(BaseTransform):
    """TinyCD's per-date "aberration": brightness/contrast, then a blur.

    Each date independently, as albumentations' ``RandomBrightnessContrast``
    (``brightness_by_max``) and ``GaussianBlur`` in TinyCD's pipeline: with
    probability ``prob``, ``img * (1 + c) + b * 255`` with ``c`` and ``b``
    uniform in ``[-contrast_limit, contrast_limit]`` and ``[-brightness_limit,
    brightness_limit]``, not clipped (TinyCD's images are floats there);
    then with probability ``blur_prob`` a Gaussian blur with an odd kernel
    drawn from ``blur_kernel_sizes`` and OpenCV's sigma for that kernel. The
    image becomes float32 (geometric transforms go before this one).

    Required Keys:

    - img

    Modified Keys:

    - img

    Args:
        brightness_limit (float): Brightness shift, a fraction of 255.
            Default: 0.2.
        contrast_limit (float): Contrast change. Default: 0.2.
        prob (float): Probability of the brightness/contrast change, per
            date. Default: 0.5.
        blur_kernel_sizes (Sequence[int]): Odd kernel sizes to draw from.
            Default: (3, 5).
        blur_prob (float): Probability of the blur, per date. Default: 0.5.
    """

    def __init__(self,
                 brightness_limit: float = 0.2,
                 contrast_limit: float = 0.2,
                 prob: float = 0.5,
                 blur_kernel_sizes: Tuple[int, ...] = (3, 5),
                 blur_prob: float = 0.5) -> None:
        for name, p in (('prob', prob), ('blur_prob', blur_prob)):
            if not 0 <= p <= 1:
                raise ValueError(f'{name} must be in [0, 1]; got {p}')
        if not all(k > 0 and k % 2 for k in blur_kernel_sizes):
            raise ValueError('blur_kernel_sizes must be positive odd '
                             f'integers; got {blur_kernel_sizes}')
        self.brightness_limit = brightness_limit
        self.contrast_limit = contrast_limit
        self.prob = prob
        self.blur_kernel_sizes = tuple(blur_kernel_sizes)
        self.blur_prob = blur_prob

    def _aberrate(self, img: np.ndarray) -> np.ndarray:
        img = img.astype(np.float32)
        if np.random.rand() < self.prob:
            alpha = 1 + np.random.uniform(-self.contrast_limit,
                                          self.contrast_limit)
            beta = np.random.uniform(-self.brightness_limit,
                                     self.brightness_limit)
            img = img * np.float32(alpha) + np.float32(beta * 255)
        if np.random.rand() < self.blur_prob:
            k = int(np.random.choice(self.blur_kernel_sizes))
            img = cv2.GaussianBlur(img, (k, k), 0).reshape(img.shape)
        return img

    def transform(self, results: dict) -> dict:
        """Distort date A and date B independently.

        Args:
            results (dict): Result dict with the ``H x W x 2C`` ``img``.

        Returns:
            dict: Result dict with the float32 ``img``.
        """
        _check_8bit_range(results['img'], self.__class__.__name__)
        results['img'] = np.concatenate(
            [self._aberrate(half) for half in split_pair(results['img'])],
            axis=2)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(brightness_limit='
                f'{self.brightness_limit}, contrast_limit='
                f'{self.contrast_limit}, prob={self.prob}, '
                f'blur_kernel_sizes={self.blur_kernel_sizes}, '
                f'blur_prob={self.blur_prob})')


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


@TRANSFORMS.register_module()
class PairGaussianBlur(BaseTransform):
    """Blur both dates with one random-radius PIL Gaussian blur.

    A radius is drawn uniformly from ``radius_range`` (with probability
    ``prob``; otherwise the sample is left as it is) and each date is
    filtered with PIL's ``ImageFilter.GaussianBlur(radius)``, as BIT's data
    loader does (it blurs every training pair, radius ``U(0, 1)``). The masks
    are not touched.

    Required Keys:

    - img (uint8, ``H x W x 2C`` with C = 1 or 3)

    Modified Keys:

    - img

    Added Keys:

    - blur_radius (float): the radius applied (0 when not blurred).

    Args:
        radius_range (tuple[float, float]): Range of the radius, in pixels.
            Defaults to (0., 1.).
        prob (float): Probability of blurring. Defaults to 1.0.
    """

    def __init__(self, radius_range: Tuple[float, float] = (0., 1.),
                 prob: float = 1.0) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1]; got {prob}')
        if not 0 <= radius_range[0] <= radius_range[1]:
            raise ValueError('radius_range must be (low, high) with '
                             f'0 <= low <= high; got {radius_range}')
        self.radius_range = tuple(radius_range)
        self.prob = prob

    @cache_randomness
    def _random_radius(self) -> float:
        if np.random.rand() >= self.prob:
            return 0.
        low, high = self.radius_range
        return float(low + np.random.rand() * (high - low))

    def transform(self, results: dict) -> dict:
        """Blur both dates of ``img`` with one radius.

        Args:
            results (dict): Result dict from loading pipeline.

        Returns:
            dict: Result dict with the blurred image.
        """
        from PIL import Image, ImageFilter
        img = results['img']
        date_a, date_b = split_pair(img)
        if img.dtype != np.uint8 or date_a.shape[2] not in (1, 3):
            raise ValueError(
                'PairGaussianBlur filters 8-bit grey or RGB dates with PIL; '
                f'got a {img.dtype} image of shape {img.shape}')
        radius = self._random_radius()
        results['blur_radius'] = radius
        if radius == 0:
            return results
        blur = ImageFilter.GaussianBlur(radius=radius)
        dates = [
            np.asarray(
                Image.fromarray(d if d.shape[2] == 3 else d[..., 0]).filter(
                    blur)).reshape(d.shape) for d in (date_a, date_b)
        ]
        results['img'] = np.concatenate(dates, axis=2)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(radius_range='
                f'{self.radius_range}, prob={self.prob})')


@TRANSFORMS.register_module()
class PairPhotometricJitter(BaseTransform):
    """Brightness, contrast, per-band gain and noise in the data's own
    range, drawn independently per date, for any band count and dtype.

    mmcv's/mmseg's photometric transforms assume 8-bit RGB (shifts in units
    of 255, clipping to [0, 255]); this one scales everything by
    ``value_range`` (e.g. ``(0, 10000)`` for Sentinel-2 reflectance stored
    x 10000, ``(0, 4095)`` for 12-bit data, ``(0., 1.)`` for float
    reflectance; ``tools/analysis_tools/band_stats.py`` prints the 2nd/98th
    percentiles). For each date, each of the following is applied with
    probability ``prob``, in this order, computed in float32:

    - brightness: ``x + b * (hi - lo)``, ``b ~ U(-brightness, brightness)``,
      one ``b`` for all bands of the date;
    - contrast: ``mean + f * (x - mean)`` per band, ``f ~ U(*contrast)``
      (one ``f`` per date, ``mean`` the date's band mean);
    - gain: ``x * g_c``, ``g_c ~ U(1 - gain, 1 + gain)`` for each band;
    - noise: ``x + n``, ``n ~ N(0, (noise_std * (hi - lo))^2)`` per pixel.

    The result keeps the input's dtype: integer data are rounded and
    clipped to the dtype's limits (and to ``value_range`` with ``clip``),
    float data are clipped only with ``clip``.

    Required Keys:

    - img (``H x W x 2C``, any dtype)

    Modified Keys:

    - img

    Args:
        value_range (tuple[float, float], optional): The data's (lo, hi).
            None: (0, 255), for uint8 data only. Defaults to None.
        brightness (float): Brightness shift, a fraction of the range.
            Defaults to 0.1.
        contrast (tuple[float, float]): Range of the contrast factor.
            Defaults to (0.8, 1.2).
        gain (float): Per-band gain spread. Defaults to 0.05.
        noise_std (float): Noise standard deviation, a fraction of the
            range. Defaults to 0.01.
        prob (float): Probability of each change, per date. Defaults to
            0.5.
        clip (bool): Clip the result to ``value_range``. Defaults to False.
    """

    def __init__(self,
                 value_range: Optional[Tuple[float, float]] = None,
                 brightness: float = 0.1,
                 contrast: Tuple[float, float] = (0.8, 1.2),
                 gain: float = 0.05,
                 noise_std: float = 0.01,
                 prob: float = 0.5,
                 clip: bool = False) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1]; got {prob}')
        if value_range is not None and not (
                len(value_range) == 2 and value_range[0] < value_range[1]):
            raise ValueError('value_range must be (lo, hi) with lo < hi; '
                             f'got {value_range}')
        if not 0 < contrast[0] <= contrast[1]:
            raise ValueError('contrast must be (low, high) with 0 < low <= '
                             f'high; got {contrast}')
        for name, v in (('brightness', brightness), ('gain', gain),
                        ('noise_std', noise_std)):
            if v < 0:
                raise ValueError(f'{name} must be >= 0; got {v}')
        if gain >= 1:
            raise ValueError(f'gain must be < 1 (gains 1 +- gain); got {gain}')
        self.value_range = None if value_range is None else tuple(
            float(v) for v in value_range)
        self.brightness = brightness
        self.contrast = tuple(contrast)
        self.gain = gain
        self.noise_std = noise_std
        self.prob = prob
        self.clip = clip

    def _range(self, dtype: np.dtype) -> Tuple[float, float]:
        if self.value_range is not None:
            return self.value_range
        if dtype == np.uint8:
            return 0., 255.
        raise ValueError(
            f'PairPhotometricJitter on {dtype} data needs value_range=(lo, '
            'hi), the data\'s range (e.g. (0, 10000) for Sentinel-2 '
            'reflectance x 10000; tools/analysis_tools/band_stats.py prints '
            'the 2nd/98th percentiles)')

    def _jitter(self, date: np.ndarray, lo: float, hi: float) -> np.ndarray:
        span = np.float32(hi - lo)
        x = date.astype(np.float32)
        if np.random.rand() < self.prob:
            x += np.float32(np.random.uniform(-self.brightness,
                                              self.brightness)) * span
        if np.random.rand() < self.prob:
            mean = x.mean(axis=(0, 1), dtype=np.float64).astype(np.float32)
            x = mean + np.float32(np.random.uniform(*self.contrast)) * (
                x - mean)
        if np.random.rand() < self.prob:
            x *= np.random.uniform(1 - self.gain, 1 + self.gain,
                                   x.shape[2]).astype(np.float32)
        if np.random.rand() < self.prob and self.noise_std > 0:
            x += np.random.normal(0, self.noise_std * span,
                                  x.shape).astype(np.float32)
        if self.clip:
            x = np.clip(x, lo, hi)
        if np.issubdtype(date.dtype, np.integer):
            info = np.iinfo(date.dtype)
            x = np.clip(np.rint(x), info.min, info.max)
        return x.astype(date.dtype)

    def transform(self, results: dict) -> dict:
        """Jitter date A and date B independently.

        Args:
            results (dict): Result dict with the ``H x W x 2C`` ``img``.

        Returns:
            dict: Result dict with the jittered ``img``, dtype kept.
        """
        img = results['img']
        lo, hi = self._range(img.dtype)
        results['img'] = np.concatenate(
            [self._jitter(d, lo, hi) for d in split_pair(img)], axis=2)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(value_range={self.value_range}, '
                f'brightness={self.brightness}, contrast={self.contrast}, '
                f'gain={self.gain}, noise_std={self.noise_std}, '
                f'prob={self.prob}, clip={self.clip})')
