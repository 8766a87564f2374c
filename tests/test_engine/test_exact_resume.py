"""--resume continues exactly as the uninterrupted run: the same weights,
tensor for tensor (ExactResumeHook; the synthetic quick-start config at
32x32 with 4 training pairs, batch 2, so 2 iterations per epoch)."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmcd.datasets.synthetic import write_synthetic_cdd

pytestmark = pytest.mark.slow  # trains

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'lsnet',
                  'lsnet_difffpn_1xb8-10e_synthetic-128x128.py')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('resume') / 'toy')
    write_synthetic_cdd(root, num_train=4, num_val=2, num_test=0, size=32,
                        seed=3)
    return root


def train(data_root, work_dir, length, resume=None, workers=0,
          persistent=False, by_iter=False):
    cfg = Config.fromfile(CONFIG)
    for name in ('train_dataloader', 'val_dataloader'):
        loader = cfg[name]
        loader.dataset.data_root = data_root
        loader.num_workers = workers if name == 'train_dataloader' else 0
        loader.persistent_workers = persistent and workers > 0 and \
            name == 'train_dataloader'
    cfg.train_dataloader.batch_size = 2
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.max_keep_ckpts = -1
    if by_iter:
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=length,
                             val_interval=2)
        cfg.param_scheduler = [dict(type='StepLR', step_size=2, gamma=0.5,
                                    by_epoch=False)]
        cfg.default_hooks.checkpoint.by_epoch = False
        cfg.default_hooks.checkpoint.interval = 3
        cfg.log_processor = dict(by_epoch=False)
    else:
        cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=length,
                             val_interval=1)
        cfg.param_scheduler = [dict(type='StepLR', step_size=1, gamma=0.5,
                                    by_epoch=True)]
        cfg.default_hooks.checkpoint.interval = 1
    cfg.work_dir = work_dir
    cfg.experiment_name = osp.basename(work_dir)
    cfg.visualizer.name = 'vis_' + osp.basename(work_dir)
    if resume:
        cfg.resume, cfg.load_from = True, resume
    runner = Runner.from_cfg(cfg)
    runner.train()
    lr = runner.optim_wrapper.get_lr()['lr'][0]
    return copy.deepcopy(runner.model.state_dict()), lr


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f'{len(different)} of {len(a)} tensors differ'


@pytest.mark.parametrize('workers', [0, 1])
def test_epoch_based_resume_is_exact(data_root, tmp_path, workers):
    """Resumed from epoch 1 of 2, with and without a loader worker (not
    persistent: mmengine seeds it again each epoch)."""
    straight, lr = train(data_root, str(tmp_path / 'straight'), 2,
                         workers=workers)
    resumed, lr_resumed = train(
        data_root, str(tmp_path / 'resumed'), 2, workers=workers,
        resume=str(tmp_path / 'straight' / 'epoch_1.pth'))
    assert lr_resumed == lr
    assert_same_weights(straight, resumed)
    if workers:
        return
    # a run of 1 epoch resumed to 2: the schedule is the 2-epoch run's
    # (not the first run's `end`), the weights the same
    train(data_root, str(tmp_path / 'short'), 1)
    longer, lr_longer = train(data_root, str(tmp_path / 'longer'), 2,
                              resume=str(tmp_path / 'short' / 'epoch_1.pth'))
    assert lr_longer == lr == 1e-3 * 0.5  # stepped after epoch 1 only
    assert_same_weights(straight, longer)


def test_iteration_based_resume_mid_epoch_is_exact(data_root, tmp_path):
    """Resumed at iteration 3 of 5 (mid-epoch), a persistent worker."""
    straight, lr = train(data_root, str(tmp_path / 'straight'), 5,
                         workers=1, persistent=True, by_iter=True)
    resumed, lr_resumed = train(
        data_root, str(tmp_path / 'resumed'), 5, workers=1, persistent=True,
        by_iter=True, resume=str(tmp_path / 'straight' / 'iter_3.pth'))
    assert lr_resumed == lr
    assert_same_weights(straight, resumed)
