"""Every DASNet / DASNet-V2 config trains and evaluates end to end through
tools/train.py (one iteration, 32x32 pairs, no ImageNet download), and
tools/test.py writes the PR curve and the per-image table."""
import csv
import glob
import json
import os.path as osp

import numpy as np
import pytest

from cli_helpers import LOADERS, loader_options
from cli_helpers import run_python as run_tool
from mmcd.datasets.synthetic import write_synthetic_cdd

# trains or runs the tools end to end
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'dasnet', '*.py')))


# every config but the first runs with a slimmer network (ResNet-18 and
# 64-channel embeddings; same code paths) to keep the suite fast on a CPU
FULL_SIZE = osp.join(REPO, 'configs', 'dasnet',
                     'dasnet_r50-d8_1xb12-60e_cdd-256x256.py')


def slim_options(config):
    head_channels = (64, ) if '-sasc_' in config else (64, 64, 64)
    return [
        'model.backbone.depth=18', 'model.neck.in_channels=512',
        'model.neck.channels=64', 'model.neck.pam_channels=8',
        'model.neck.embed_channels=64',
        f'model.decode_head.in_channels={list(head_channels)}'
    ]


def tiny_options(config, data_root, keep_checkpoint=False):
    opts = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
            'default_hooks.logger.interval=1',
            'train_dataloader.batch_size=2',
            'model.backbone.init_cfg=None']  # no ImageNet download
    if config != FULL_SIZE:
        opts += slim_options(config)
    if keep_checkpoint:
        opts += ['default_hooks.checkpoint.save_optimizer=False']
    else:
        opts += ['default_hooks.checkpoint.interval=-1',
                 'default_hooks.checkpoint.save_last=False',
                 'default_hooks.checkpoint.save_best=None']
    opts += loader_options(data_root)
    for loader, split in zip(LOADERS, ('train', 'val', 'test')):
        if 'levircd' in config:  # the synthetic pairs are in CDD's layout
            opts += [f'{loader}.dataset.img_suffix=.jpg',
                     f'{loader}.dataset.seg_map_suffix=.jpg',
                     f'{loader}.dataset.data_prefix.seg_map_path={split}/OUT']
    return opts


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('dasnet_e2e') / 'toy')
    write_synthetic_cdd(root, num_train=2, num_val=1, num_test=2, size=32,
                        seed=3)
    return root


def log_dir(work_dir):
    dirs = [d for d in glob.glob(osp.join(work_dir, '*')) if osp.isdir(d)]
    assert len(dirs) == 1, dirs
    return dirs[0]


@pytest.mark.parametrize('config', CONFIGS,
                         ids=[osp.basename(c)[:-3] for c in CONFIGS])
def test_config_trains_and_sweeps(config, data_root, tmp_path):
    work_dir = str(tmp_path / 'work')
    keep = config == FULL_SIZE
    out = run_tool([osp.join(REPO, 'tools', 'train.py'), config,
                    '--work-dir', work_dir, '--cfg-options'] +
                   tiny_options(config, data_root, keep), cwd=str(tmp_path))
    assert 'Failed to search registry' not in out
    run_dir = log_dir(work_dir)
    with open(glob.glob(osp.join(run_dir, 'vis_data', 'scalars.json'))[0]) \
            as f:
        rows = [json.loads(line) for line in f if line.strip()]
    train = [r for r in rows if 'loss' in r]
    assert len(train) == 1 and np.isfinite(train[0]['loss'])
    losses = {k for k in train[0] if k.startswith('decode.loss')}
    if '-sasc_' in config:
        assert losses == {'decode.loss_contrastive_sasc'}
    else:
        assert losses == {f'decode.loss_contrastive_{n}'
                          for n in ('sa', 'sc', 'sasc')}
    val = [r for r in rows if 'MaxF' in r]
    assert len(val) == 1
    for key in ('F1', 'MaxF', 'MaxF_threshold', 'AP'):
        assert 0.0 <= val[0][key] <= 1.0
    assert val[0]['MaxF'] >= val[0]['F1']  # the sweep includes p > 0.5
    curve = osp.join(run_dir, 'pr_curve_val_iter_1.json')
    assert osp.isfile(curve) and osp.isfile(curve[:-5] + '.png')
    if keep:
        check_test_tool(config, data_root, work_dir, tmp_path)


def check_test_tool(config, data_root, work_dir, tmp_path):
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    test_work = str(tmp_path / 'test_work')
    out = run_tool([osp.join(REPO, 'tools', 'test.py'), config, ckpt,
                    '--work-dir', test_work, '--cfg-options'] +
                   tiny_options(config, data_root), cwd=str(tmp_path))
    assert 'MaxF' in out
    run_dir = log_dir(test_work)
    with open(osp.join(run_dir, 'per_image_test.csv'), newline='') as f:
        rows = list(csv.DictReader(f))
    names = sorted(osp.basename(p) for p in glob.glob(
        osp.join(data_root, 'test', 'A', '*')))
    assert sorted(r['pair'] for r in rows) == names
    f1 = [float(r['F1']) if r['F1'] else np.inf for r in rows]
    assert f1 == sorted(f1)  # worst first
    for r in rows:  # each row's F1 is its own counts'
        tp, fp, fn = (int(r[k]) for k in ('TP', 'FP', 'FN'))
        if 2 * tp + fp + fn:
            assert float(r['F1']) == pytest.approx(
                2 * tp / (2 * tp + fp + fn), abs=1e-6)
    with open(osp.join(run_dir, 'pr_curve_test.json')) as f:
        curve = json.load(f)
    assert len(curve['precision']) == curve['num_bins'] == 1000
    assert osp.isfile(osp.join(run_dir, 'pr_curve_test.png'))
