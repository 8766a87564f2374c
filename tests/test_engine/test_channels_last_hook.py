"""ChannelsLastHook: LSNet trains in the channels-last memory format with the
results of the default format (float64: equal up to rounding)."""
import copy
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.model.wrappers import MMDistributedDataParallel
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmcd  # noqa: F401
from mmcd.engine.hooks import ChannelsLastHook
from mmcd.registry import HOOKS, MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LSNET = osp.join(REPO, 'configs', 'lsnet',
                 'lsnet_difffpn_1xb12-100e_cdd-256x256.py')


def is_channels_last(t):
    return (t.is_contiguous(memory_format=torch.channels_last)
            and not t.is_contiguous())


@pytest.fixture(scope='module')
def lsnet_f64():
    init_default_scope('mmcd')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(LSNET).model)
    model.init_weights()
    with torch.no_grad():  # non-trivial BatchNorm affine parameters
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model.double().train()


def train_step(model, inputs, samples):
    """Losses, gradients and the weights after one AdamW step."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = model.loss(inputs, samples)
    loss = losses['decode.loss_ce'] + losses['decode.loss_dice']
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    optimizer.step()
    return losses, grads, copy.deepcopy(model.state_dict())


def test_lsnet_training_step_is_unchanged(lsnet_f64):
    g = torch.Generator().manual_seed(1)
    inputs = torch.rand(2, 6, 32, 32, generator=g, dtype=torch.float64) * 255
    samples = []
    for _ in range(2):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(
            data=(torch.rand(1, 32, 32, generator=g) > 0.7).long())
        sample.set_metainfo(dict(img_shape=(32, 32), pad_shape=(32, 32)))
        samples.append(sample)
    default = copy.deepcopy(lsnet_f64)
    converted = copy.deepcopy(lsnet_f64)
    ChannelsLastHook().before_run(SimpleNamespace(model=converted))
    seen = []
    converted.backbone.stages[2][1].conv_local.register_forward_hook(
        lambda module, args, out: seen.append(is_channels_last(out)))

    losses, grads, weights = train_step(default, inputs, samples)
    losses_cl, grads_cl, weights_cl = train_step(converted, inputs, samples)
    assert seen == [True]  # the depthwise convs ran channels-last
    for key in ('decode.loss_ce', 'decode.loss_dice'):
        torch.testing.assert_close(losses_cl[key], losses[key], rtol=1e-13,
                                   atol=0)
    for name, grad in grads.items():
        torch.testing.assert_close(grads_cl[name], grad, rtol=1e-9,
                                   atol=1e-12, msg=name)
    # AdamW moves a weight by up to lr = 1e-3; the conv biases before a
    # BatchNorm have gradients of rounding size only (1e-17), which AdamW
    # turns into steps of grad / eps: 1e-11 apart
    for name, value in weights.items():
        torch.testing.assert_close(weights_cl[name], value, rtol=1e-9,
                                   atol=1e-10, msg=name)


def test_hook_converts_the_wrapped_model_before_everything(tmp_path):
    hook = HOOKS.build(dict(type='ChannelsLastHook'))
    assert hook.priority == 'VERY_HIGH'
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/pg',
                            rank=0, world_size=1)
    try:
        wrapper = MMDistributedDataParallel(module=model)
        hook.before_run(SimpleNamespace(model=wrapper))
    finally:
        dist.destroy_process_group()
    assert is_channels_last(model[0].weight)
    # the state dict keeps its values and loads into a default-format model
    plain = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    plain.load_state_dict(model.state_dict())
    assert plain[0].weight.is_contiguous()
    assert torch.equal(plain[0].weight, model[0].weight)
