"""Pair-aware transforms, and mmcv/mmseg geometric transforms on 2C images."""
import copy

import cv2
import numpy as np
import pytest
from cd_test_utils import build_pipeline
from mmseg.datasets.transforms import PhotoMetricDistortion

from mmcd.datasets.transforms import (ExchangeTime, PairPhotoMetricDistortion,
                                      RandomRot90)


def _sample(h=12, w=20, c=3, seed=0):
    """A 2C pair whose channels 0/1 encode row/column, and a mask that is
    a function of the pixel values (so alignment is checkable)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 2 * c), dtype=np.uint8)
    img[..., 0] = np.arange(h, dtype=np.uint8)[:, None]
    img[..., 1] = np.arange(w, dtype=np.uint8)[None, :]
    gt = (img[..., 2] > 127).astype(np.uint8)
    return dict(
        img=img, gt_seg_map=gt, seg_fields=['gt_seg_map'],
        img_shape=(h, w), ori_shape=(h, w))


# ---------------------------------------------------------------- RandomRot90
def test_rot90_is_exact_and_aligned():
    np.random.seed(0)
    seen = set()
    for _ in range(30):
        res = _sample()
        orig = copy.deepcopy(res)
        res = RandomRot90(prob=1.0)(res)
        k = res['rot90_k']
        assert k in (1, 2, 3)
        seen.add(k)
        np.testing.assert_array_equal(res['img'],
                                      np.rot90(orig['img'], k, axes=(0, 1)))
        np.testing.assert_array_equal(
            res['gt_seg_map'], np.rot90(orig['gt_seg_map'], k))
        # the mask still describes the rotated pixels
        np.testing.assert_array_equal(res['gt_seg_map'],
                                      (res['img'][..., 2] > 127))
        assert res['img_shape'] == res['img'].shape[:2]
        assert res['img_shape'] == ((20, 12) if k % 2 else (12, 20))
        assert res['img'].flags['C_CONTIGUOUS']
    assert seen == {1, 2, 3}


def test_rot90_k_distribution():
    np.random.seed(1)
    t = RandomRot90()  # prob 0.75: k uniform over {0, 1, 2, 3}
    ks = [t(dict(img=np.zeros((2, 3, 6), np.uint8)))['rot90_k']
          for _ in range(4000)]
    freq = np.bincount(ks, minlength=4) / len(ks)
    assert np.allclose(freq, 0.25, atol=0.03), freq
    np.random.seed(2)
    res = _sample()
    orig = res['img'].copy()
    for _ in range(20):
        res = RandomRot90(prob=0.0)(res)
        assert res['rot90_k'] == 0
    np.testing.assert_array_equal(res['img'], orig)
    with pytest.raises(ValueError):
        RandomRot90(prob=1.5)


# ---------------------------------------------------------------- ExchangeTime
def test_exchange_time():
    res = _sample()
    a, b = res['img'][..., :3].copy(), res['img'][..., 3:].copy()
    gt = res['gt_seg_map'].copy()
    res = ExchangeTime(prob=1.0)(res)
    np.testing.assert_array_equal(res['img'][..., :3], b)
    np.testing.assert_array_equal(res['img'][..., 3:], a)
    np.testing.assert_array_equal(res['gt_seg_map'], gt)
    res = ExchangeTime(prob=0.0)(res)
    np.testing.assert_array_equal(res['img'][..., :3], b)
    with pytest.raises(ValueError, match='2C'):
        ExchangeTime(prob=1.0)(dict(img=np.zeros((4, 4, 5), np.uint8)))


# ------------------------------------------------- PairPhotoMetricDistortion
def test_pair_photometric_distortion_is_per_date():
    rng = np.random.default_rng(3)
    date = rng.integers(30, 220, (16, 16, 3), dtype=np.uint8)
    img = np.concatenate([date, date], axis=2)  # identical dates
    t = PairPhotoMetricDistortion()
    np.random.seed(0)
    out = t(dict(img=img.copy()))['img']
    assert out.shape == img.shape and out.dtype == np.uint8
    assert not np.array_equal(out[..., :3], out[..., 3:])
    assert not np.array_equal(out, img)
    # exactly mmseg's PhotoMetricDistortion drawn for A, then for B
    ref = PhotoMetricDistortion()
    np.random.seed(0)
    ref_a = ref(dict(img=date.copy()))['img']
    ref_b = ref(dict(img=date.copy()))['img']
    np.testing.assert_array_equal(out, np.concatenate([ref_a, ref_b], 2))
    # over several draws the two dates (almost) always differ
    differ = sum(not np.array_equal(o[..., :3], o[..., 3:]) for o in (
        t(dict(img=img.copy()))['img'] for _ in range(10)))
    assert differ >= 8


def test_pair_photometric_distortion_other_inputs():
    np.random.seed(4)
    t = PairPhotoMetricDistortion()
    img = np.random.randint(0, 256, (8, 8, 6)).astype(np.float32)
    out = t(dict(img=img))['img']
    assert out.shape == (8, 8, 6) and out.dtype == np.float32
    img4 = np.random.randint(0, 256, (8, 8, 8)).astype(np.uint8)  # 4 bands
    out = t(dict(img=img4))['img']
    assert out.shape == (8, 8, 8) and out.dtype == np.uint8


# --------------------------------- mmcv/mmseg geometric transforms on 2C
@pytest.mark.parametrize('direction', ['horizontal', 'vertical'])
def test_random_flip_6_channels(direction):
    res = _sample()
    orig = copy.deepcopy(res)
    (flip, ) = build_pipeline(
        [dict(type='RandomFlip', prob=1.0, direction=direction)])
    res = flip(res)
    axis = 1 if direction == 'horizontal' else 0
    np.testing.assert_array_equal(res['img'], np.flip(orig['img'], axis))
    np.testing.assert_array_equal(res['gt_seg_map'],
                                  np.flip(orig['gt_seg_map'], axis))
    assert res['flip'] and res['flip_direction'] == direction


def test_random_crop_6_channels():
    np.random.seed(5)
    (crop, ) = build_pipeline([dict(type='RandomCrop', crop_size=(5, 7))])
    for _ in range(10):
        res = _sample()
        orig = copy.deepcopy(res)
        res = crop(res)
        assert res['img'].shape == (5, 7, 6)
        assert res['img_shape'] == (5, 7)
        y0, x0 = int(res['img'][0, 0, 0]), int(res['img'][0, 0, 1])
        np.testing.assert_array_equal(res['img'],
                                      orig['img'][y0:y0 + 5, x0:x0 + 7])
        np.testing.assert_array_equal(
            res['gt_seg_map'], orig['gt_seg_map'][y0:y0 + 5, x0:x0 + 7])


def test_resize_6_channels_equals_per_date_resize():
    res = _sample(h=12, w=20)
    orig = copy.deepcopy(res)
    (resize, ) = build_pipeline(
        [dict(type='Resize', scale=(30, 18), keep_ratio=False)])
    res = resize(res)
    assert res['img'].shape == (18, 30, 6)
    assert res['img_shape'] == (18, 30)
    per_date = [
        cv2.resize(orig['img'][..., s], (30, 18),
                   interpolation=cv2.INTER_LINEAR)
        for s in (slice(0, 3), slice(3, 6))
    ]
    np.testing.assert_array_equal(res['img'], np.concatenate(per_date, 2))
    np.testing.assert_array_equal(
        res['gt_seg_map'],
        cv2.resize(orig['gt_seg_map'], (30, 18),
                   interpolation=cv2.INTER_NEAREST))
