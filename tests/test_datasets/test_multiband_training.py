"""Training, testing and inference end to end on synthetic uint16 13-band
pairs (issue 11): tools/train.py, tools/test.py and tools/infer.py --pair
with a config built here (bands, dtype, band statistics, jitter)."""
import glob
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from PIL import Image

from cli_helpers import run_python
from raster_helpers import write_tif

pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BANDS = 13
#: the tools import this checkout's mmcd
ENV = dict(os.environ,
           PYTHONPATH=os.pathsep.join(
               [REPO] + os.environ.get('PYTHONPATH', '').split(os.pathsep)))

CONFIG = '''
_base_ = [{runtime!r}]
bands = list(range(1, {bands} + 1))
load = dict(type='LoadImagePairFromFile', bands=bands, dtype='uint16')
train_pipeline = [
    load,
    dict(type='LoadChangeAnnotation'),
    dict(type='RandomCrop', crop_size=(16, 16)),
    dict(type='RandomRotate', prob=0.5, degree=20),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PairPhotometricJitter', value_range=(0, 10000)),
    dict(type='PackSegInputs'),
]
test_pipeline = [load, dict(type='LoadChangeAnnotation'),
                 dict(type='PackSegInputs')]


def split(name, pipeline, batch_size=1):
    return dict(
        batch_size=batch_size, num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=name == 'train'),
        dataset=dict(
            type='ChangeDetectionDataset', data_root={root!r},
            img_suffix='.tif',
            data_prefix=dict(img_path=name + '/A', img_path2=name + '/B',
                             seg_map_path=name + '/label'),
            pipeline=pipeline))


train_dataloader = split('train', train_pipeline, batch_size=2)
val_dataloader = split('val', test_pipeline)
test_dataloader = val_dataloader
val_evaluator = dict(type='ChangeMetric')
test_evaluator = val_evaluator
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor', mean={mean}, std={std},
        bgr_to_rgb=False, pad_val=0, seg_pad_val=255, size_divisor=1),
    backbone=dict(type='FCUNetEncoder', in_channels=2 * len(bands),
                  stage_channels=(4, 8), stage_convs=(1, 1),
                  norm_cfg=norm_cfg),
    decode_head=dict(
        type='FCUNetHead', in_channels=(4, 8, 8), stage_channels=(4, 8),
        stage_convs=(2, 2), num_classes=2, norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss')),
    train_cfg=dict(), test_cfg=dict(mode='whole'))
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='Adam', lr=1e-3))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=4, val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
log_processor = dict(by_epoch=False)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=4),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='ChangeVisualizationHook', draw=False))
'''


def _write_split(root, split, num, rng, size=24):
    for i in range(num):
        a = rng.integers(500, 3000, (size, size, BANDS), dtype=np.uint16)
        b = a.copy()
        mask = np.zeros((size, size), np.uint8)
        mask[4:14, 6:18] = 1
        b[mask == 1] += 4000  # the change: brighter in every band
        write_tif(root / split / 'A' / f'{i}.tif', a)
        write_tif(root / split / 'B' / f'{i}.tif', b)
        (root / split / 'label').mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / split / 'label' / f'{i}.png'), mask * 255)


def test_train_test_infer_on_uint16_13_band_pairs(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / 'data'
    _write_split(data, 'train', 4, rng)
    _write_split(data, 'val', 2, rng)
    cfg = tmp_path / 'cfg.py'

    # band statistics from the tool, pasted into the config
    stats_cfg = tmp_path / 'stats_cfg.py'
    stats_cfg.write_text(
        CONFIG.format(runtime=osp.join(REPO, 'configs', '_base_',
                                       'default_runtime.py'),
                      bands=BANDS,
                      root=str(data),
                      mean=[0.] * 2 * BANDS,
                      std=[1.] * 2 * BANDS))
    out = run_python([
        osp.join(REPO, 'tools', 'analysis_tools', 'band_stats.py'), stats_cfg
    ],
                     env=ENV)
    mean = [
        line.strip() for line in out.splitlines()
        if line.strip().startswith('mean=[')
    ][0]
    std = [
        line.strip() for line in out.splitlines()
        if line.strip().startswith('std=[')
    ][0]
    assert mean.count(',') == 2 * BANDS  # 26 values and the trailing comma
    cfg.write_text(
        CONFIG.format(runtime=osp.join(REPO, 'configs', '_base_',
                                       'default_runtime.py'),
                      bands=BANDS,
                      root=str(data),
                      mean=mean[5:-1],
                      std=std[4:-1]))

    work = tmp_path / 'work'
    out = run_python(
        [osp.join(REPO, 'tools', 'train.py'), cfg, '--work-dir', work],
        cwd=str(tmp_path),
        env=ENV)
    assert 'Iter(train) [4/4]' in out
    ckpt = osp.join(work, 'iter_4.pth')
    assert osp.isfile(ckpt)
    out = run_python([
        osp.join(REPO, 'tools', 'test.py'), cfg, ckpt, '--work-dir',
        tmp_path / 'test', '--no-fast'
    ],
                     cwd=str(tmp_path),
                     env=ENV)
    assert 'F1' in out

    pred = tmp_path / 'pred'
    run_python([
        osp.join(REPO, 'tools', 'infer.py'), cfg, ckpt, '--pair',
        data / 'val' / 'A' / '0.tif', data / 'val' / 'B' / '0.tif', '--out',
        pred, '--overlay', '--no-progress', '--no-fast'
    ],
               cwd=str(tmp_path),
               env=ENV)
    mask = np.asarray(Image.open(pred / 'mask' / '0.png'))
    assert mask.shape == (24, 24) and set(np.unique(mask)) <= {0, 255}
    overlay = np.asarray(Image.open(pred / 'overlay' / '0.png'))
    assert overlay.shape == (24, 24, 3)
    assert glob.glob(str(pred / 'mask' /
                         '*.png')) == [str(pred / 'mask' / '0.png')]

    # a file that does not match the config is refused by name
    write_tif(data / 'odd' / 'A.tif',
              rng.integers(0, 3000, (24, 24, 4), dtype=np.uint16))
    out = run_python([
        osp.join(REPO, 'tools', 'infer.py'), cfg, ckpt, '--pair',
        data / 'odd' / 'A.tif', data / 'val' / 'B' / '0.tif', '--out',
        tmp_path / 'pred2', '--no-progress', '--no-fast'
    ],
                     cwd=str(tmp_path),
                     env=ENV,
                     ok=False)
    assert 'odd/A.tif has 4 bands' in out and 'bands=' in out
