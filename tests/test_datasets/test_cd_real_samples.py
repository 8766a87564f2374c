"""Smoke test over the real pairs in shared/data/real_samples (read in place,
never copied into the repository)."""
import cv2
import numpy as np
import pytest
from cd_test_utils import META_KEYS, build_pipeline
from PIL import Image

from mmcd.datasets import ChangeDetectionDataset

PIPELINE = [
    dict(type='LoadImagePairFromFile'),
    dict(type='LoadChangeAnnotation'),
    dict(type='PackSegInputs', meta_keys=META_KEYS),
]


def _dataset(root, name, suffix, **kwargs):
    return ChangeDetectionDataset(
        data_root=str(root / name), img_suffix=suffix,
        seg_map_suffix=suffix, pipeline=build_pipeline(PIPELINE), **kwargs)


def _raw(path):
    """The raw mask as the loader decodes it (pillow, grayscale)."""
    return np.array(Image.open(path).convert('L'))


def _check_pair(out, info):
    inputs = out['inputs']
    assert inputs.shape == (6, 256, 256)
    a = cv2.imread(info['img_path'])[..., ::-1]
    b = cv2.imread(info['img_path2'])[..., ::-1]
    np.testing.assert_array_equal(inputs[:3].permute(1, 2, 0).numpy(), a)
    np.testing.assert_array_equal(inputs[3:].permute(1, 2, 0).numpy(), b)
    return out['data_samples'].gt_sem_seg.data[0].numpy()


def test_levir_cd_samples(real_samples):
    ds = _dataset(real_samples, 'LEVIR-CD', '.png')
    assert len(ds) == 11
    empty = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        gt = _check_pair(ds[i], info)
        np.testing.assert_array_equal(gt, _raw(info['seg_map_path']) >= 128)
        if not gt.any():
            empty.append(info['img_path'].rsplit('/', 1)[1])
    assert empty == ['train_386_0512_0768.png']


def test_cdd_sample_is_0_1_jpeg(real_samples):
    ds = _dataset(real_samples, 'CDD', '.jpg', label_encoding='0-1')
    assert len(ds) == 1
    info = ds.get_data_info(0)
    gt = _check_pair(ds[0], info)
    raw = _raw(info['seg_map_path'])
    assert raw.max() <= 2
    assert gt.any()
    np.testing.assert_array_equal(gt, raw >= 1)
    # read as 0/255 it must fail loudly, not become an empty mask
    ds = _dataset(real_samples, 'CDD', '.jpg')
    with pytest.raises(ValueError) as e:
        ds[0]
    assert info['seg_map_path'] in str(e.value)
    assert "label_encoding='0-1'" in str(e.value)


def test_airchange_samples(real_samples):
    ds = _dataset(real_samples, 'AirChange', '.bmp')
    assert len(ds) == 2
    nonempty = {}
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        gt = _check_pair(ds[i], info)
        np.testing.assert_array_equal(gt, _raw(info['seg_map_path']) >= 128)
        nonempty[info['img_path'].rsplit('/', 1)[1]] = bool(gt.any())
    assert nonempty == {'airchange_1.bmp': True, 'airchange_2.bmp': False}
