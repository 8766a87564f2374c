"""Every model config in configs/ builds, trains one step and predicts.

A config that stops building (a renamed type, a wrong channel count, a
loss that no longer fits the head) fails here, whatever the family. The
models run at full width on a tiny input (2 pairs of 64x64); weights are
not initialised from files (no downloads).
"""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmcd  # noqa: F401
from mmcd.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    c for c in glob.glob(osp.join(REPO, 'configs', '*', '*.py'))
    if '_base_' not in c)
SIZE = 64


def pair_channels(model_cfg) -> int:
    """Channels of the (B, 2C, H, W) input the config's model takes."""
    mean = (model_cfg.get('data_preprocessor') or {}).get('mean')
    if mean is not None:
        return len(mean)
    return 2 * model_cfg.backbone.get('in_channels', 3)


def tiny_batch(channels: int, generator: torch.Generator):
    inputs = torch.rand(2, channels, SIZE, SIZE, generator=generator) * 255
    samples = []
    for _ in range(2):
        sample = SegDataSample()
        gt = (torch.rand(1, SIZE, SIZE, generator=generator) > 0.8).long()
        sample.gt_sem_seg = PixelData(data=gt)
        sample.set_metainfo(
            dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE),
                 pad_shape=(SIZE, SIZE)))
        samples.append(sample)
    return inputs, samples


@pytest.mark.slow
@pytest.mark.parametrize('config', CONFIGS,
                         ids=[osp.basename(c)[:-3] for c in CONFIGS])
def test_config_trains_one_step_and_predicts(config):
    init_default_scope('mmcd')
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    generator = torch.Generator().manual_seed(0)
    inputs, samples = tiny_batch(pair_channels(cfg.model), generator)

    model.train()
    data = model.data_preprocessor(
        dict(inputs=list(inputs), data_samples=samples), training=True)
    losses = model.loss(data['inputs'], data['data_samples'])
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss), losses
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(torch.isfinite(g).all() for g in grads if g is not None)

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(
            dict(inputs=list(inputs), data_samples=samples), training=False)
        preds = model.predict(data['inputs'], data['data_samples'])
    for pred in preds:
        mask = pred.pred_sem_seg.data
        assert mask.shape == (1, SIZE, SIZE)
        assert set(mask.unique().tolist()) <= {0, 1}
