"""mmcv/mmseg geometric transforms made exact on any channel count.

OpenCV handles 1, 3 or 4 channels best: with more than 4,
``cv2.copyMakeBorder`` (mmcv's ``Pad``) refuses a per-channel border value,
and ``cv2.warpAffine`` (mmseg's ``RandomRotate``) interpolates 2 or more
than 4 channels with an error of up to about 2% of the value range that a
1-, 3- or 4-channel warp does not have (OpenCV 5.0). A change-detection pair
already has 2C >= 6 channels. The two transforms below, registered under
mmcv's and mmseg's names in mmcd's scope, apply the original to groups of
1, 3 or 4 channels (the same random draw for all). ``RandomFlip``,
``RandomCrop``, ``Resize``/``RandomResize`` (within 1 unit: OpenCV rounds
differently by channel count) and :class:`RandomRot90` work on any channel
count as they are (tests/test_datasets/test_multiband_transforms.py pins
this for 8, 13 and 26 channels of uint16).
"""
from typing import Callable, List, Tuple

import mmcv
import numpy as np
from mmcv.transforms import Pad as _MMCVPad
from mmseg.datasets.transforms import RandomRotate as _MMSegRandomRotate

from mmcd.registry import TRANSFORMS


def channel_groups(channels: int) -> List[slice]:
    """Consecutive groups of 1, 3 or 4 channels covering ``channels``: the
    counts OpenCV warps exactly (with 2 or more than 4 channels its
    interpolation is off by up to 2% of the range)."""
    sizes = [4] * (channels // 4)
    rest = channels % 4
    if rest == 2:
        sizes = sizes[:-1] + [3, 3] if sizes else [1, 1]
    elif rest:
        sizes.append(rest)
    starts = np.cumsum([0] + sizes)
    return [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])]


def by_channel_groups(fn: Callable[[np.ndarray, slice], np.ndarray],
                      img: np.ndarray) -> np.ndarray:
    """Apply ``fn(part, channels)`` to the :func:`channel_groups` of an
    ``H x W x C`` image and stack the results along the channel axis."""
    if img.ndim < 3 or img.shape[2] in (1, 3, 4):
        return fn(img, slice(None))
    parts = []
    for channels in channel_groups(img.shape[2]):
        out = fn(np.ascontiguousarray(img[..., channels]), channels)
        parts.append(out if out.ndim == 3 else out[..., None])
    return np.concatenate(parts, axis=2)


def _per_channel(value, img: np.ndarray):
    """``value`` for every channel of ``img`` (OpenCV takes a scalar border
    value for the first channel only)."""
    if img.ndim < 3 or isinstance(value, (tuple, list)):
        return value
    return (value, ) * img.shape[2]


@TRANSFORMS.register_module()
class Pad(_MMCVPad):
    """mmcv's :class:`~mmcv.transforms.Pad`, also for more than 4 channels.

    Same arguments and keys as mmcv's; ``pad_val['img']`` may be one value
    or one per channel.

    Args:
        size (tuple[int, int], optional): Fixed (w, h) padding size.
        size_divisor (int, optional): Pad to a multiple of this.
        pad_to_square (bool): Pad to a square. Defaults to False.
        pad_val (int | float | dict): Padding value(s), as mmcv's.
            Defaults to dict(img=0, seg=255).
        padding_mode (str): 'constant', 'edge', 'reflect' or 'symmetric'.
            Defaults to 'constant'.
    """

    def _target_shape(self, h: int, w: int) -> Tuple[int, int]:
        if self.pad_to_square:
            h = w = max(h, w)
        if self.size_divisor is not None:
            d = self.size_divisor
            return -(-h // d) * d, -(-w // d) * d
        if self.size is not None:
            return self.size[1], self.size[0]
        return h, w

    def _pad_img(self, results: dict) -> None:
        """Pad ``img`` by groups of 1, 3 or 4 channels."""
        img = results['img']
        if img.ndim < 3 or img.shape[2] in (1, 3, 4):
            return super()._pad_img(results)
        pad_val = self.pad_val.get('img', 0)
        if not isinstance(pad_val, (tuple, list)):
            pad_val = (pad_val, ) * img.shape[2]
        if len(pad_val) != img.shape[2]:
            raise ValueError(f'Pad: pad_val has {len(pad_val)} values for '
                             f'an image of {img.shape[2]} channels')
        shape = self._target_shape(*img.shape[:2])
        padded = by_channel_groups(
            lambda part, ch: mmcv.impad(part,
                                        shape=shape,
                                        pad_val=tuple(pad_val[ch]),
                                        padding_mode=self.padding_mode), img)
        results['img'] = padded
        results['pad_shape'] = padded.shape
        results['pad_fixed_size'] = self.size
        results['pad_size_divisor'] = self.size_divisor
        results['img_shape'] = padded.shape[:2]


@TRANSFORMS.register_module()
class RandomRotate(_MMSegRandomRotate):
    """mmseg's :class:`~mmseg.datasets.transforms.RandomRotate`, exact on
    any channel count (the image is rotated by groups of 1, 3 or 4 channels,
    all by the same random angle), ``pad_val`` filling every
    channel (OpenCV fills only the first with a scalar border value).

    Args:
        prob (float): The rotation probability.
        degree (float | tuple[float]): Range of degrees to select from.
        pad_val (float): Padding value of the image. Defaults to 0.
        seg_pad_val (float): Padding value of the segmentation maps.
            Defaults to 255.
        center (tuple[float], optional): Rotation centre; None: the image
            centre. Defaults to None.
        auto_bound (bool): Whether to enlarge the canvas to hold the whole
            rotated image. Defaults to False.
    """

    def transform(self, results: dict) -> dict:
        """Rotate ``img`` and the seg fields by one random angle.

        Args:
            results (dict): Result dict from loading pipeline.

        Returns:
            dict: Rotated results.
        """
        rotate, degree = self.generate_degree()
        if rotate:
            results['img'] = by_channel_groups(
                lambda part, _: mmcv.imrotate(part,
                                              angle=degree,
                                              border_value=_per_channel(
                                                  self.pal_val, part),
                                              center=self.center,
                                              auto_bound=self.auto_bound),
                results['img'])
            for key in results.get('seg_fields', []):
                results[key] = mmcv.imrotate(results[key],
                                             angle=degree,
                                             border_value=self.seg_pad_val,
                                             center=self.center,
                                             auto_bound=self.auto_bound,
                                             interpolation='nearest')
        return results
