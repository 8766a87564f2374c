"""tools/model_converters/opencd_changer2mmcd.py on state dicts laid out like
open-cd's ChangerEx checkpoints (likyoo/open-cd: IA_ResNetV1c /
IA_MixVisionTransformer, whose keys are mmseg's ResNetV1c / MiT keys as the
exchange layers have no parameters, and the ``Changer`` head with
``convs``, ``fusion_conv``, ``neck_layer.flow_make`` (FDAF),
``discriminator.layers`` (MixFFN) and ``conv_seg``).

The head layout is written here from open-cd's module names and channel
numbers, independently of mmcd's head; the converted dict must then load
strictly into mmcd's model, each tensor in the right place.
"""
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmcd  # noqa: F401
from cli_helpers import run_python
from mmcd.registry import MODELS
from mmseg.models.backbones import MixVisionTransformer, ResNetV1c  # noqa

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'model_converters', 'opencd_changer2mmcd.py')
spec = importlib.util.spec_from_file_location('opencd_changer2mmcd', TOOL)
converter = importlib.util.module_from_spec(spec)
spec.loader.exec_module(converter)


def bn(prefix, c):
    return {f'{prefix}.weight': (c, ), f'{prefix}.bias': (c, ),
            f'{prefix}.running_mean': (c, ), f'{prefix}.running_var': (c, ),
            f'{prefix}.num_batches_tracked': ()}


def opencd_head_shapes(in_channels, channels=128):
    """open-cd's Changer head state (decode_heads/changer.py)."""
    shapes = {'conv_seg.weight': (2, channels, 1, 1), 'conv_seg.bias': (2, )}
    for i, c in enumerate(in_channels):
        shapes[f'convs.{i}.conv.weight'] = (channels, c, 1, 1)
        shapes.update(bn(f'convs.{i}.bn', channels))
    half = channels // 2
    shapes['fusion_conv.conv.weight'] = (half, channels * len(in_channels),
                                         1, 1)
    shapes.update(bn('fusion_conv.bn', half))
    shapes['neck_layer.flow_make.0.weight'] = (2 * half, 1, 5, 5)
    shapes['neck_layer.flow_make.0.bias'] = (2 * half, )
    shapes['neck_layer.flow_make.3.weight'] = (4, 2 * half, 1, 1)
    for i, shape in ((0, (channels, channels, 1, 1)), (1, (channels, 1, 3,
                                                           3)),
                     (4, (channels, channels, 1, 1))):
        shapes[f'discriminator.layers.{i}.weight'] = shape
        shapes[f'discriminator.layers.{i}.bias'] = (channels, )
    return {f'decode_head.{k}': v for k, v in shapes.items()}


def opencd_state_dict(name):
    if name == 'r18':
        backbone = ResNetV1c(depth=18)
        in_channels = [64, 128, 256, 512]
    else:
        backbone = MixVisionTransformer(
            embed_dims=32, num_heads=[1, 2, 5, 8], num_layers=[2, 2, 2, 2])
        in_channels = [32, 64, 160, 256]
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    g = torch.Generator().manual_seed(0)
    for key, shape in opencd_head_shapes(in_channels).items():
        state[key] = (torch.tensor(7) if not shape else torch.randn(
            shape, generator=g))
    return state


def build(name):
    init_default_scope('mmcd')
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'models',
                 f'changer_ex_{name}.py'))
    cfg.model.backbone.pop('init_cfg', None)
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('name', ['r18', 'mit-b0'])
def test_converted_state_dict_loads_strictly(name):
    state = opencd_state_dict(name)
    converted, variant = converter.convert_changer(
        {f'module.{k}': v for k, v in state.items()})
    assert variant == name
    model = build(name)
    model.load_state_dict(converted, strict=True)
    sd = model.state_dict()
    assert torch.equal(sd['decode_head.flow_fusion.flow_conv.0.weight'],
                       state['decode_head.neck_layer.flow_make.0.weight'])
    assert torch.equal(sd['decode_head.flow_fusion.flow_conv.3.weight'],
                       state['decode_head.neck_layer.flow_make.3.weight'])
    assert torch.equal(sd['decode_head.projection.layers.1.weight'],
                       state['decode_head.discriminator.layers.1.weight'])
    assert torch.equal(sd['decode_head.convs.2.bn.running_var'],
                       state['decode_head.convs.2.bn.running_var'])


def test_unmapped_keys_are_listed():
    state = opencd_state_dict('r18')
    # ChangerAD's aggregation-distribution layer has parameters
    state['backbone.ccs.1.fc_reduce.weight'] = torch.zeros(8, 128, 1, 1)
    state['auxiliary_head.conv_seg.weight'] = torch.zeros(2, 64, 1, 1)
    with pytest.raises(KeyError) as err:
        converter.convert_changer(state)
    assert 'backbone.ccs.1.fc_reduce.weight' in str(err.value)
    assert 'auxiliary_head.conv_seg.weight' in str(err.value)
    with pytest.raises(KeyError, match='not an open-cd Changer'):
        converter.convert_changer({'foo.weight': torch.zeros(1)})
    mit = opencd_state_dict('mit-b0')
    mit['backbone.layers.0.0.projection.weight'] = torch.zeros(64, 3, 7, 7)
    with pytest.raises(KeyError, match='not a MiT-b0'):
        converter.convert_changer(mit)


def test_cli_converts_an_mmengine_checkpoint_and_refuses_overwrite(tmp_path):
    src, dst = tmp_path / 'changer.pth', tmp_path / 'mmcd.pth'
    torch.save(dict(meta=dict(epoch=1), state_dict=opencd_state_dict('r18')),
               src)
    out = run_python([TOOL, src, dst])
    assert 'r18' in out and osp.isfile(dst)
    ckpt = torch.load(dst, weights_only=True)
    build('r18').load_state_dict(ckpt['state_dict'], strict=True)
    assert ckpt['meta']['dataset_meta']['classes'] == ('unchanged', 'changed')
    out = run_python([TOOL, src, dst], ok=False)
    assert 'refusing to overwrite' in out
