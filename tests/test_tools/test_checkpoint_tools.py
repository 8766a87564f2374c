"""tools/test.py refuses weights of another model (auxiliary heads may be
left out); tools/train.py --resume refuses an empty work dir and writes
checkpoints atomically."""
import os.path as osp

import pytest
import torch
from cli_helpers import loader_options, run_python
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmcd  # noqa: F401
from mmcd.datasets.synthetic import write_synthetic_cdd
from mmcd.registry import MODELS
from mmcd.utils.tool_setup import write_checkpoints_atomically

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTHETIC = osp.join(REPO, 'configs', 'lsnet',
                     'lsnet_difffpn_1xb8-10e_synthetic-128x128.py')
LSNET_DENSE = osp.join(REPO, 'configs', 'lsnet',
                       'lsnet_densefpn_1xb12-100e_cdd-256x256.py')
BISENET = osp.join(REPO, 'configs', 'bisenetv2_cd',
                   'bisenetv2cd_bga-booster_1xb16-40k_cdd-256x256.py')
TEST = osp.join(REPO, 'tools', 'test.py')
TRAIN = osp.join(REPO, 'tools', 'train.py')


def save_model_checkpoint(config, path):
    cfg = Config.fromfile(config)
    init_default_scope('mmcd')
    torch.save(dict(state_dict=MODELS.build(cfg.model).state_dict(),
                    meta=dict(cfg=cfg.pretty_text)), path)
    return str(path)


@pytest.mark.slow
def test_test_tool_refuses_weights_of_another_model(tmp_path):
    data_root = str(tmp_path / 'toy')
    write_synthetic_cdd(data_root, num_train=0, num_val=0, num_test=2,
                        size=64, seed=1)
    dense = save_model_checkpoint(LSNET_DENSE, tmp_path / 'dense.pth')
    opts = ['--cfg-options'] + loader_options(data_root,
                                              ['test_dataloader'])
    out = run_python([TEST, SYNTHETIC, dense, '--work-dir',
                      tmp_path / 'w1'] + opts, cwd=tmp_path, ok=False)
    assert 'do not fit' in out and dense in out and SYNTHETIC in out
    assert 'of another shape' in out and '--allow-partial-weights' in out
    out = run_python([TEST, SYNTHETIC, dense, '--work-dir', tmp_path / 'w2',
                      '--allow-partial-weights'] + opts, cwd=tmp_path)
    assert 'loading what fits' in out and 'F1' in out

    # BiSeNetV2-CD tested without its booster heads (its README)
    bisenet = save_model_checkpoint(BISENET, tmp_path / 'bisenet.pth')
    out = run_python([TEST, BISENET, bisenet, '--work-dir', tmp_path / 'w3']
                     + opts + ['model.auxiliary_head=None'], cwd=tmp_path)
    assert 'auxiliary heads' in out and 'F1' in out


@pytest.mark.slow
def test_resume_in_an_empty_work_dir_is_refused(tmp_path):
    work_dir = tmp_path / 'work'
    out = run_python([TRAIN, SYNTHETIC, '--work-dir', work_dir, '--resume'],
                     cwd=tmp_path, ok=False)
    assert 'nothing to resume' in out and str(work_dir) in out
    assert not list(work_dir.glob('**/*.pth'))


def test_train_checkpoints_are_written_atomically():
    cfg = Config.fromfile(SYNTHETIC)
    write_checkpoints_atomically(cfg)
    assert cfg.default_hooks.checkpoint.backend_args == dict(
        backend='atomic_local')
    # a storage backend of the config's own is kept
    cfg.default_hooks.checkpoint.backend_args = dict(backend='petrel')
    write_checkpoints_atomically(cfg)
    assert cfg.default_hooks.checkpoint.backend_args == dict(
        backend='petrel')
