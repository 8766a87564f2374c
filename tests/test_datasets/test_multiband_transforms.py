"""Transforms on multi-band, 16-bit and float pairs (issue 11): geometric
transforms act on 8, 13 and 26 channels exactly as on each channel alone;
photometric jitter works in the data's range, per date."""
import numpy as np
import pytest
from mmengine.registry import init_default_scope

import mmcd  # noqa: F401
from mmcd.datasets.transforms import (PairPhotoMetricDistortion,
                                      PairPhotometricJitter)
from mmcd.registry import TRANSFORMS

GEOMETRIC = [
    dict(type='RandomFlip', prob=1.0, direction='horizontal'),
    dict(type='RandomFlip', prob=1.0, direction='vertical'),
    dict(type='RandomRotate', prob=1.0, degree=30, pad_val=7, seg_pad_val=255),
    dict(type='RandomCrop', crop_size=(12, 16)),
    dict(type='RandomResize',
         scale=(40, 32),
         ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='Resize',
         scale=(20, 18),
         keep_ratio=False,
         interpolation='bicubic'),
    dict(type='Pad', size=(48, 40), pad_val=dict(img=9, seg=255)),
    dict(type='RandomRot90', prob=1.0),
]


def _sample(img):
    h, w = img.shape[:2]
    seg = (np.arange(h * w).reshape(h, w) % 2).astype(np.uint8)
    return dict(img=img,
                gt_seg_map=seg,
                seg_fields=['gt_seg_map'],
                img_shape=(h, w),
                ori_shape=(h, w))


@pytest.mark.parametrize('channels', [8, 13, 26])
@pytest.mark.parametrize('cfg', GEOMETRIC, ids=lambda c: c['type'])
def test_geometric_transforms_on_many_uint16_channels(channels, cfg):
    init_default_scope('mmcd')
    rng = np.random.default_rng(channels)
    img = rng.integers(0, 4096, (24, 32, channels), dtype=np.uint16)
    transform = TRANSFORMS.build(cfg)
    np.random.seed(1)
    out = transform(_sample(img.copy()))
    assert out['img'].dtype == np.uint16
    assert out['img'].shape[2] == channels
    assert out['img'].shape[:2] == out['gt_seg_map'].shape
    # every channel as that channel transformed alone (same draw): exactly,
    # but for OpenCV's resize rounding differently by channel count (1 LSB)
    atol = 1 if 'Resize' in cfg['type'] else 0
    for c in range(channels):
        np.random.seed(1)
        alone = transform(_sample(np.ascontiguousarray(img[..., c:c + 1])))
        np.testing.assert_allclose(out['img'][..., c].astype(int),
                                   alone['img'].reshape(
                                       out['img'].shape[:2]).astype(int),
                                   rtol=0,
                                   atol=atol)
        np.testing.assert_array_equal(out['gt_seg_map'], alone['gt_seg_map'])


def test_pad_value_per_channel():
    init_default_scope('mmcd')
    img = np.ones((4, 4, 6), np.uint16)
    out = TRANSFORMS.build(
        dict(type='Pad', size=(6, 5),
             pad_val=dict(img=tuple(range(10, 16)))))(dict(img=img))
    assert out['img'].shape == (5, 6, 6) and out['pad_shape'] == (5, 6, 6)
    np.testing.assert_array_equal(out['img'][4, 5], np.arange(10, 16))
    np.testing.assert_array_equal(out['img'][:4, :4], img)


# ------------------------------------------------------ photometric jitter
def _dates(dtype, channels=4, lo=0, hi=10000, seed=0):
    rng = np.random.default_rng(seed)
    date = rng.uniform(lo + 0.2 * (hi - lo), lo + 0.8 * (hi - lo),
                       (16, 16, channels)).astype(dtype)
    return date, np.concatenate([date, date], axis=2)


@pytest.mark.parametrize('dtype,value_range', [(np.uint16, (0, 10000)),
                                               (np.int16, (-1000, 4000)),
                                               (np.float32, (0., 1.)),
                                               (np.uint8, None)])
def test_jitter_keeps_dtype_and_range(dtype, value_range):
    lo, hi = value_range or (0, 255)
    date, img = _dates(dtype, lo=lo, hi=hi)
    t = PairPhotometricJitter(value_range=value_range,
                              brightness=0.3,
                              contrast=(0.5, 1.5),
                              gain=0.2,
                              noise_std=0.05,
                              prob=1.0,
                              clip=True)
    np.random.seed(0)
    for _ in range(5):
        out = t(dict(img=img.copy()))['img']
        assert out.dtype == np.dtype(dtype) and out.shape == img.shape
        assert out.min() >= lo and out.max() <= hi
        assert not np.array_equal(out, img)
    # the perturbation is of the range's size, not 255's: uint16 data
    # moved by a sizeable fraction of 10000
    if dtype == np.uint16:
        shift = np.abs(out.astype(float) - img).mean()
        assert shift > 100


def test_jitter_dates_are_independent():
    date, img = _dates(np.float32, channels=3, hi=1.)
    # brightness only: each date shifted by its own constant
    t = PairPhotometricJitter(value_range=(0., 1.),
                              brightness=0.2,
                              contrast=(1., 1.),
                              gain=0.,
                              noise_std=0.,
                              prob=1.0)
    np.random.seed(3)
    out = t(dict(img=img.copy()))['img']
    shift_a = out[..., :3] - date
    shift_b = out[..., 3:] - date
    assert np.ptp(shift_a) < 1e-5 and np.ptp(shift_b) < 1e-5
    assert abs(shift_a.mean() - shift_b.mean()) > 1e-3
    # gain only: one factor per band and date
    t = PairPhotometricJitter(value_range=(0., 1.),
                              brightness=0.,
                              contrast=(1., 1.),
                              gain=0.2,
                              noise_std=0.,
                              prob=1.0)
    out = t(dict(img=img.copy()))['img']
    gains = (out / np.concatenate([date, date], axis=2)).reshape(-1, 6)
    assert np.ptp(gains, axis=0).max() < 1e-5
    assert len(np.unique(gains[0].round(6))) == 6
    assert np.all(np.abs(gains[0] - 1) <= 0.2 + 1e-6)


def test_jitter_unclipped_integers_stay_in_dtype():
    img = np.full((4, 4, 2), 65000, np.uint16)
    t = PairPhotometricJitter(value_range=(0, 65535),
                              brightness=0.5,
                              gain=0.,
                              noise_std=0.,
                              prob=1.0)
    np.random.seed(0)
    for _ in range(5):
        out = t(dict(img=img.copy()))['img']
        assert out.dtype == np.uint16  # rounded and clipped, no wrap-around


def test_jitter_settings():
    with pytest.raises(ValueError, match='value_range'):
        PairPhotometricJitter()(dict(img=np.zeros((2, 2, 2), np.uint16)))
    with pytest.raises(ValueError, match='value_range'):
        PairPhotometricJitter(value_range=(1, 0))
    with pytest.raises(ValueError, match='prob'):
        PairPhotometricJitter(prob=2)
    with pytest.raises(ValueError, match='2C'):
        PairPhotometricJitter()(dict(img=np.zeros((2, 2, 3), np.uint8)))
    init_default_scope('mmcd')
    t = TRANSFORMS.build(
        dict(type='PairPhotometricJitter', value_range=(0, 4095)))
    assert 'value_range=(0.0, 4095.0)' in repr(t)


def test_8bit_photometric_refuses_16bit():
    with pytest.raises(ValueError, match='PairPhotometricJitter'):
        PairPhotoMetricDistortion()(dict(img=np.zeros((4, 4, 6), np.uint16)))
