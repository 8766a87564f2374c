"""ChangeDetectionDataset, CDDDataset and LEVIRCD on folders written here."""
import cv2
import numpy as np
import pytest
import torch
from cd_test_utils import META_KEYS, build_pipeline, imwrite, write_cd_folder
from mmengine.registry import DefaultScope

from mmcd.datasets import CDDDataset, ChangeDetectionDataset, LEVIRCD
from mmcd.registry import DATASETS

LOAD = [dict(type='LoadImagePairFromFile'), dict(type='LoadChangeAnnotation')]
PACK = [dict(type='PackSegInputs', meta_keys=META_KEYS)]


def _check_packed(out, img_a, img_b, mask=None):
    inputs = out['inputs']
    assert inputs.shape == (6, ) + img_a.shape[:2]
    assert inputs.dtype == torch.uint8
    np.testing.assert_array_equal(inputs[:3].permute(1, 2, 0).numpy(), img_a)
    np.testing.assert_array_equal(inputs[3:].permute(1, 2, 0).numpy(), img_b)
    sample = out['data_samples']
    if mask is not None:
        np.testing.assert_array_equal(sample.gt_sem_seg.data[0].numpy(),
                                      mask)
    return sample


def test_png_layout_and_pipeline(tmp_path):
    arrays = write_cd_folder(tmp_path / 'train', ['b', 'c', 'a'])
    ds = ChangeDetectionDataset(
        data_root=str(tmp_path),
        data_prefix=dict(
            img_path='train/A', img_path2='train/B',
            seg_map_path='train/label'),
        pipeline=build_pipeline(LOAD + PACK))
    assert len(ds) == 3
    infos = [ds.get_data_info(i) for i in range(3)]
    assert [i['img_path'].rsplit('/', 1)[1] for i in infos] == \
        ['a.png', 'b.png', 'c.png']
    info = infos[0]
    assert info['img_path'] == str(tmp_path / 'train' / 'A' / 'a.png')
    assert info['img_path2'] == str(tmp_path / 'train' / 'B' / 'a.png')
    assert info['seg_map_path'] == str(tmp_path / 'train' / 'label' /
                                       'a.png')
    assert info['label_encoding'] == '0-255' and info['ignore_value'] is None
    assert ds.metainfo['classes'] == ('unchanged', 'changed')
    assert len(ds.metainfo['palette']) == 2
    for i, name in enumerate(['a', 'b', 'c']):
        out = ds[i]
        sample = _check_packed(out, *arrays[name])
        meta = sample.metainfo
        assert meta['img_path'].endswith(f'A/{name}.png')
        assert meta['img_path2'].endswith(f'B/{name}.png')
        assert meta['seg_map_path'].endswith(f'label/{name}.png')
        assert meta['ori_shape'] == (16, 16) and meta['img_shape'] == (16, 16)


def test_jpeg_images_png_labels_custom_folders(tmp_path):
    arrays = write_cd_folder(
        tmp_path, ['p1', 'p2'], a='time1', b='time2', label='gt',
        img_ext='.jpg', label_ext='.png', size=32)
    # a stray file of another type is ignored
    (tmp_path / 'time1' / 'notes.txt').write_text('x')
    ds = ChangeDetectionDataset(
        data_root=str(tmp_path), img_suffix='.jpg', seg_map_suffix='.png',
        data_prefix=dict(img_path='time1', img_path2='time2',
                         seg_map_path='gt'),
        pipeline=build_pipeline(LOAD + [
            dict(type='RandomFlip', prob=1.0, direction='horizontal'),
        ] + PACK))
    assert len(ds) == 2
    out = ds[1]
    mask = arrays['p2'][2]
    inputs = out['inputs']
    assert inputs.shape == (6, 32, 32)
    # the decoded JPEGs (RGB), flipped
    for half, folder in ((slice(0, 3), 'time1'), (slice(3, 6), 'time2')):
        decoded = cv2.imread(str(tmp_path / folder / 'p2.jpg'))[..., ::-1]
        np.testing.assert_array_equal(
            inputs[half].permute(1, 2, 0).numpy(), decoded[:, ::-1])
    np.testing.assert_array_equal(
        out['data_samples'].gt_sem_seg.data[0].numpy(), mask[:, ::-1])
    assert out['data_samples'].metainfo['flip_direction'] == 'horizontal'


def test_split_list(tmp_path):
    write_cd_folder(tmp_path, ['x1', 'x2', 'x3'])
    (tmp_path / 'split.txt').write_text('x3\n\nx1\n')
    ds = ChangeDetectionDataset(data_root=str(tmp_path),
                                ann_file='split.txt')
    names = [ds.get_data_info(i)['img_path'].rsplit('/', 1)[1]
             for i in range(len(ds))]
    assert names == ['x1.png', 'x3.png']
    # a split list tolerates extra files, e.g. an A without a B
    imwrite(tmp_path / 'A' / 'extra.png', np.zeros((16, 16, 3), np.uint8))
    assert len(ChangeDetectionDataset(data_root=str(tmp_path),
                                      ann_file='split.txt')) == 2


def test_split_list_bad_name(tmp_path):
    write_cd_folder(tmp_path, ['x1', 'x2'])
    (tmp_path / 'split.txt').write_text('x1\nnope\n')
    with pytest.raises(FileNotFoundError) as e:
        ChangeDetectionDataset(data_root=str(tmp_path), ann_file='split.txt')
    msg = str(e.value)
    assert "'nope'" in msg and str(tmp_path / 'A' / 'nope.png') in msg
    assert 'split.txt' in msg
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        ChangeDetectionDataset(data_root=str(tmp_path),
                               ann_file='missing.txt')
    (tmp_path / 'empty.txt').write_text('\n')
    with pytest.raises(ValueError, match='empty.txt'):
        ChangeDetectionDataset(data_root=str(tmp_path), ann_file='empty.txt')


@pytest.mark.parametrize('prefix', [
    dict(img_path='A', img_path2='B'),
    dict(img_path='A', img_path2='B', seg_map_path=None)
])
def test_unlabelled(tmp_path, prefix):
    arrays = write_cd_folder(tmp_path, ['u1', 'u2'], label=None)
    ds = ChangeDetectionDataset(
        data_root=str(tmp_path), data_prefix=prefix, test_mode=True,
        pipeline=build_pipeline([dict(type='LoadImagePairFromFile')] +
                                PACK))
    assert len(ds) == 2
    assert 'seg_map_path' not in ds.get_data_info(0)
    out = ds[0]
    sample = _check_packed(out, *arrays['u1'][:2])
    assert 'gt_sem_seg' not in sample


def test_missing_partner_files_are_named(tmp_path):
    write_cd_folder(tmp_path, ['s1', 's2'])
    (tmp_path / 'B' / 's2.png').unlink()
    with pytest.raises(FileNotFoundError) as e:
        ChangeDetectionDataset(data_root=str(tmp_path))
    msg = str(e.value)
    assert str(tmp_path / 'A' / 's2.png') in msg
    assert str(tmp_path / 'B' / 's2.png') in msg


def test_a_without_label_is_named(tmp_path):
    write_cd_folder(tmp_path, ['s1', 's2'])
    (tmp_path / 'label' / 's1.png').unlink()
    with pytest.raises(FileNotFoundError) as e:
        ChangeDetectionDataset(data_root=str(tmp_path))
    assert str(tmp_path / 'A' / 's1.png') in str(e.value)
    assert 'change mask' in str(e.value)


@pytest.mark.parametrize('folder', ['B', 'label'])
def test_file_without_a_is_named(tmp_path, folder):
    write_cd_folder(tmp_path, ['s1'])
    imwrite(tmp_path / folder / 'orphan.png', np.zeros((16, 16), np.uint8))
    with pytest.raises(FileNotFoundError) as e:
        ChangeDetectionDataset(data_root=str(tmp_path))
    assert str(tmp_path / folder / 'orphan.png') in str(e.value)
    assert 'without date-A image' in str(e.value)


def test_empty_or_missing_folder_is_named(tmp_path):
    write_cd_folder(tmp_path, ['s1'])
    (tmp_path / 'B2').mkdir()
    with pytest.raises(FileNotFoundError) as e:
        ChangeDetectionDataset(
            data_root=str(tmp_path),
            data_prefix=dict(img_path='A', img_path2='B2',
                             seg_map_path='label'))
    assert str(tmp_path / 'B2') in str(e.value) and 'empty' in str(e.value)
    with pytest.raises(FileNotFoundError) as e:
        ChangeDetectionDataset(
            data_root=str(tmp_path),
            data_prefix=dict(img_path='A', img_path2='B',
                             seg_map_path='labels'))
    assert str(tmp_path / 'labels') in str(e.value)
    assert 'does not exist' in str(e.value)
    # files of the wrong suffix only
    with pytest.raises(FileNotFoundError) as e:
        ChangeDetectionDataset(data_root=str(tmp_path), img_suffix='.jpg')
    assert str(tmp_path / 'A') in str(e.value) and 's1.png' in str(e.value)


def test_unreadable_file_through_dataset(tmp_path):
    write_cd_folder(tmp_path, ['s1'])
    (tmp_path / 'B' / 's1.png').write_bytes(b'\x89PNG broken')
    ds = ChangeDetectionDataset(data_root=str(tmp_path),
                                pipeline=build_pipeline(LOAD + PACK))
    with pytest.raises(OSError, match=str(tmp_path / 'B' / 's1.png')):
        ds[0]


def test_size_mismatch_through_dataset(tmp_path):
    write_cd_folder(tmp_path, ['s1'])
    imwrite(tmp_path / 'B' / 's1.png', np.zeros((16, 12, 3), np.uint8))
    ds = ChangeDetectionDataset(data_root=str(tmp_path),
                                pipeline=build_pipeline(LOAD + PACK))
    with pytest.raises(ValueError) as e:
        ds[0]
    assert str(tmp_path / 'A' / 's1.png') in str(e.value)
    assert str(tmp_path / 'B' / 's1.png') in str(e.value)


def test_label_settings_reach_the_loader(tmp_path):
    arrays = write_cd_folder(tmp_path, ['s1'], label_scale=1)
    with pytest.raises(ValueError, match="label_encoding='0-1'"):
        ChangeDetectionDataset(data_root=str(tmp_path),
                               pipeline=build_pipeline(LOAD + PACK))[0]
    ds = ChangeDetectionDataset(
        data_root=str(tmp_path), label_encoding='0-1',
        pipeline=build_pipeline(LOAD + PACK))
    _check_packed(ds[0], *arrays['s1'])
    ds = ChangeDetectionDataset(
        data_root=str(tmp_path), label_encoding='0-1', ignore_value=255,
        lazy_init=True)
    assert ds.label_encoding == '0-1' and ds.ignore_value == 255
    with pytest.raises(ValueError, match='label_encoding'):
        ChangeDetectionDataset(data_root=str(tmp_path), label_encoding='01')
    with pytest.raises(ValueError, match='ignore_value'):
        ChangeDetectionDataset(data_root=str(tmp_path), ignore_value=255)


def test_cdd_and_levircd_defaults(tmp_path):
    cdd = write_cd_folder(tmp_path / 'cdd' / 'train', ['00000', '00001'],
                          label='OUT', img_ext='.jpg', label_ext='.jpg',
                          size=32)
    write_cd_folder(tmp_path / 'levir' / 'train', ['train_1_0000_0000'])
    write_cd_folder(tmp_path / 'levir' / 'val', ['val_1_0000_0000'])
    ds = CDDDataset(data_root=str(tmp_path / 'cdd'),
                    pipeline=build_pipeline(LOAD + PACK))
    assert len(ds) == 2
    assert ds.get_data_info(0)['seg_map_path'].endswith('train/OUT/00000.jpg')
    np.testing.assert_array_equal(
        ds[0]['data_samples'].gt_sem_seg.data[0].numpy(), cdd['00000'][2])
    ds = LEVIRCD(data_root=str(tmp_path / 'levir'))
    assert len(ds) == 1
    ds = LEVIRCD(data_root=str(tmp_path / 'levir'),
                 data_prefix=dict(img_path='val/A', img_path2='val/B',
                                  seg_map_path='val/label'))
    assert ds.get_data_info(0)['img_path2'].endswith(
        'val/B/val_1_0000_0000.png')


def test_registry_and_config_build(tmp_path):
    assert DATASETS.get('LEVIRCD') is LEVIRCD
    assert DATASETS.get('LEVIRCDDataset') is LEVIRCD  # mmcd's, in its scope
    assert DATASETS.get('CDDDataset') is CDDDataset
    write_cd_folder(tmp_path / 'train', ['a'])
    cfg = dict(
        type='LEVIRCDDataset', data_root=str(tmp_path),
        pipeline=LOAD + [dict(type='RandomRot90'),
                         dict(type='PairPhotoMetricDistortion'),
                         dict(type='ExchangeTime')] + PACK)
    # an mmseg-scoped config builds mmcd's dataset in mmcd's scope
    for scope, extra in (('mmcd', {}), ('mmcd', dict(type='LEVIRCD')),
                         ('mmseg', dict(_scope_='mmcd'))):
        with DefaultScope.overwrite_default_scope(scope):
            ds = DATASETS.build(dict(cfg, **extra))
            assert type(ds) is LEVIRCD
            assert ds[0]['inputs'].shape == (6, 16, 16)


def test_ignore_value_hiding_every_change_pixel_raises(tmp_path):
    # 0/255 masks (change = 255) read with '0-1' and ignore_value=255
    write_cd_folder(tmp_path, ['a', 'b', 'c'], label_scale=255)
    with pytest.raises(ValueError) as e:
        ChangeDetectionDataset(data_root=str(tmp_path), label_encoding='0-1',
                               ignore_value=255)
    msg = str(e.value)
    assert 'label' in msg and 'a.png' in msg
    assert "label_encoding='0-255' without ignore_value" in msg
    # the right settings for these masks, and 0/1 masks with a 255 border
    assert len(ChangeDetectionDataset(data_root=str(tmp_path))) == 3
    write_cd_folder(tmp_path / 'b01', ['a', 'b'], label_scale=1)
    border = cv2.imread(str(tmp_path / 'b01' / 'label' / 'a.png'), 0)
    border[0] = 255
    imwrite(tmp_path / 'b01' / 'label' / 'a.png', border)
    assert len(ChangeDetectionDataset(data_root=str(tmp_path / 'b01'),
                                      label_encoding='0-1',
                                      ignore_value=255)) == 2


def test_suffix_in_another_case_is_included(tmp_path):
    write_cd_folder(tmp_path, ['a', 'b'])
    for folder in ('A', 'B', 'label'):
        (tmp_path / folder / 'b.png').rename(tmp_path / folder / 'b.PNG')
    ds = ChangeDetectionDataset(data_root=str(tmp_path))
    assert len(ds) == 2
    assert ds.get_data_info(1)['img_path'].endswith('b.PNG')
    # the same name twice (x.png and x.PNG) is refused, naming both
    imwrite(tmp_path / 'A' / 'b.png', np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match=r'b\.PNG and b\.png'):
        ChangeDetectionDataset(data_root=str(tmp_path))


def test_broken_symlink_is_named(tmp_path):
    write_cd_folder(tmp_path, ['a'])
    for folder in ('A', 'B', 'label'):
        (tmp_path / folder / 'z.png').symlink_to(tmp_path / 'gone.png')
    with pytest.raises(FileNotFoundError) as e:
        ChangeDetectionDataset(data_root=str(tmp_path))
    assert 'z.png' in str(e.value) and 'broken symbolic link' in str(e.value)


def test_pairs_found_are_logged(tmp_path):
    from mmengine.logging import MMLogger
    write_cd_folder(tmp_path, ['a', 'b', 'c'])
    logger = MMLogger.get_instance('mmcd_pairs_logged', log_level='INFO')
    records = []

    class Keep:
        level = 0

        def handle(self, record):
            records.append(record.getMessage())

    logger.addHandler(Keep())
    from unittest import mock
    with mock.patch.object(MMLogger, 'get_current_instance',
                           return_value=logger):
        ChangeDetectionDataset(data_root=str(tmp_path))
    assert any('3 labelled pairs' in r and str(tmp_path / 'A') in r
               for r in records), records
