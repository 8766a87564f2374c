"""DSIFNCDDataset in ChangeFormer's DSIFN-CD-256 layout: A/, B/, label/
(0/255 PNG) and list/{train,val,test}.txt naming 'xxx_k.png' files."""
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

import mmcd  # noqa: F401
from mmcd.registry import DATASETS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def write_layout(root, names=('0_1', '0_2', '1_1', '2_4'),
                 lists=dict(train=('0_1', '0_2'), val=('1_1', ),
                            test=('2_4', ))):
    for folder in ('A', 'B', 'label', 'list'):
        (root / folder).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in names:
        for folder in ('A', 'B'):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), np.uint8)
                            ).save(root / folder / f'{name}.png')
        mask = np.zeros((16, 16), np.uint8)
        mask[4:8, 4:8] = 255
        Image.fromarray(mask).save(root / 'label' / f'{name}.png')
    for split, members in lists.items():
        (root / 'list' / f'{split}.txt').write_text(
            ''.join(f'{n}.png\n' for n in members))


def test_base_config_reads_changeformer_layout_and_lists(tmp_path):
    write_layout(tmp_path)
    init_default_scope('mmcd')
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'datasets', 'dsifn_cd.py'))
    sizes = {}
    for split in ('train', 'val', 'test'):
        ds_cfg = cfg[f'{split}_dataloader'].dataset
        ds_cfg.data_root = str(tmp_path)
        ds = DATASETS.build(ds_cfg)
        infos = [ds.get_data_info(i) for i in range(len(ds))]
        sizes[split] = [osp.basename(d['img_path']) for d in infos]
        info = infos[0]
        assert osp.dirname(info['img_path2']) == str(tmp_path / 'B')
        assert osp.dirname(info['seg_map_path']) == str(tmp_path / 'label')
        assert info['label_encoding'] == '0-255'
    assert sizes == dict(train=['0_1.png', '0_2.png'], val=['1_1.png'],
                         test=['2_4.png'])
    # the masks load as 0/1 change maps
    sample = ds[0]
    gt = sample['data_samples'].gt_sem_seg.data
    assert set(gt.unique().tolist()) == {0, 1}
    assert int(gt.sum()) == 16
    assert sample['inputs'].shape == (6, 16, 16)


def test_a_listed_tile_without_files_is_named(tmp_path):
    write_layout(tmp_path, lists=dict(train=('0_1', '9_9')))
    init_default_scope('mmcd')
    with pytest.raises(FileNotFoundError, match="'9_9'"):
        DATASETS.build(dict(type='DSIFNCDDataset', data_root=str(tmp_path),
                            ann_file='list/train.txt'))


def test_released_512_layout_with_data_prefix(tmp_path):
    for folder in ('t1', 't2', 'mask'):
        (tmp_path / 'train' / folder).mkdir(parents=True)
    img = np.zeros((8, 8, 3), np.uint8)
    Image.fromarray(img).save(tmp_path / 'train' / 't1' / '0.jpg')
    Image.fromarray(img).save(tmp_path / 'train' / 't2' / '0.jpg')
    Image.fromarray(img[..., 0]).save(tmp_path / 'train' / 'mask' / '0.png')
    init_default_scope('mmcd')
    ds = DATASETS.build(dict(
        type='DSIFNCDDataset', data_root=str(tmp_path), img_suffix='.jpg',
        data_prefix=dict(img_path='train/t1', img_path2='train/t2',
                         seg_map_path='train/mask')))
    assert len(ds) == 1
    assert ds.get_data_info(0)['seg_map_path'].endswith('0.png')
