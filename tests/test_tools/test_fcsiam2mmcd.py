"""tools/model_converters/fcsiam2mmcd.py on state dicts laid out like the
original code's (rcdaudt/fully_convolutional_change_detection: unet.py,
siamunet_conc.py, siamunet_diff.py).

The original layout is written here from the original architecture (its
layer names conv11..conv43, bn.., upconv1..4, conv43d..conv11d and channel
numbers), independently of mmcd's modules; the converted dict must then load
strictly into mmcd's models, each tensor in its place.
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

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'model_converters', 'fcsiam2mmcd.py')
spec = importlib.util.spec_from_file_location('fcsiam2mmcd', TOOL)
fcsiam2mmcd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fcsiam2mmcd)

WIDTHS = (16, 32, 64, 128)


def original_shapes(name, bands=3):
    """Key -> shape of the original ``net.state_dict()``."""
    shapes = {}

    def conv(key, cin, cout, transposed=False):
        shapes[f'{key}.weight'] = (cin, cout, 3, 3) if transposed else \
            (cout, cin, 3, 3)
        shapes[f'{key}.bias'] = (cout, )

    def bn(key, c):
        for s in ('weight', 'bias', 'running_mean', 'running_var'):
            shapes[f'{key}.{s}'] = (c, )
        shapes[f'{key}.num_batches_tracked'] = ()

    cin = 2 * bands if name == 'fc-ef' else bands
    for s, (width, n) in enumerate(zip(WIDTHS, (2, 2, 3, 3)), 1):
        for k in range(1, n + 1):
            conv(f'conv{s}{k}', cin, width)
            bn(f'bn{s}{k}', width)
            cin = width
    skip = 2 if name == 'fc-siam-conc' else 1
    # decoder: upconvS, then convS{n}d .. convS1d (conv11d is the classifier)
    decoder = {4: (3, 64), 3: (3, 32), 2: (2, 16), 1: (2, 2)}
    for s in (4, 3, 2, 1):
        width = WIDTHS[s - 1]
        conv(f'upconv{s}', width, width, transposed=True)
        n, last = decoder[s]
        cin = width + skip * width
        for k in range(n, 0, -1):
            cout = last if k == 1 else width
            conv(f'conv{s}{k}d', cin, cout, transposed=True)
            if (s, k) != (1, 1):
                bn(f'bn{s}{k}d', cout)
            cin = cout
    return shapes


def original_state(name, bands=3):
    g = torch.Generator().manual_seed(0)
    return {
        k: (torch.randint(0, 9, s, generator=g) if k.endswith('tracked')
            else torch.randn(s, generator=g))
        for k, s in original_shapes(name, bands).items()
    }


def mmcd_model(name):
    init_default_scope('mmcd')
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'models', f'{name}_unet.py'))
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('name', fcsiam2mmcd.MODELS)
def test_every_key_maps_and_loads_strictly(name):
    state = original_state(name)
    converted, detected = fcsiam2mmcd.convert_fcsiam(state)
    assert detected == name
    assert len(converted) == len(state)
    model = mmcd_model(name)
    model.load_state_dict(converted, strict=True)
    torch.testing.assert_close(model.decode_head.conv_seg.weight,
                               state['conv11d.weight'])
    torch.testing.assert_close(model.decode_head.up_convs[3].weight,
                               state['upconv4.weight'])
    torch.testing.assert_close(model.decode_head.stages[3][0].conv.weight,
                               state['conv43d.weight'])
    torch.testing.assert_close(model.decode_head.stages[3][2].norm.bias,
                               state['bn41d.bias'])
    torch.testing.assert_close(model.decode_head.stages[0][0].conv.weight,
                               state['conv12d.weight'])
    torch.testing.assert_close(model.backbone.stages[2][2].norm.running_var,
                               state['bn33.running_var'])
    torch.testing.assert_close(model.backbone.stages[0][1].conv.weight,
                               state['conv12.weight'])


def test_detection_module_prefix_and_unmapped_keys():
    state = {f'module.{k}': v for k, v in original_state('fc-ef', 13).items()}
    assert fcsiam2mmcd.convert_fcsiam(state)[1] == 'fc-ef'
    assert fcsiam2mmcd.detect_model(original_state('fc-siam-diff', 13)) == \
        'fc-siam-diff'
    with pytest.raises(ValueError, match='--model'):
        fcsiam2mmcd.detect_model(original_state('fc-siam-diff', 5))
    state = original_state('fc-siam-diff')
    state['bn11d.weight'] = torch.ones(2)
    state['extra.weight'] = torch.ones(1)
    with pytest.raises(KeyError, match='bn11d.weight, extra.weight'):
        fcsiam2mmcd.convert_fcsiam(state)


def test_cli_converts_and_never_overwrites(tmp_path):
    src, dst = tmp_path / 'net_final.pth.tar', tmp_path / 'fc.pth'
    torch.save(original_state('fc-siam-conc'), src)
    out = run_python([TOOL, src, dst])
    assert 'fc-siam-conc' in out
    ckpt = torch.load(dst, map_location='cpu', weights_only=False)
    mmcd_model('fc-siam-conc').load_state_dict(ckpt['state_dict'])
    assert ckpt['meta']['dataset_meta']['classes'] == ('unchanged',
                                                       'changed')
    before = dst.read_bytes()
    out = run_python([TOOL, src, dst], ok=False)
    assert 'refusing to overwrite' in out and dst.read_bytes() == before
