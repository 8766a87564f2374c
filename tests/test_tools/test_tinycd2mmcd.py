"""tools/model_converters/tinycd2mmcd.py on state dicts laid out like the
original TinyCD code's (AndreaCodegoni/Tiny_model_4_CD,
models/change_classifier.py, ChangeClassifier with its defaults).

The mixing, up-sampling and classifier keys are written here from the
original's module names (_first_mix, _mixing_mask, _up, _classify and the
_mixing/_linear/_convmix/_convolution/_linears inside them) and channel
numbers; the backbone keys are torchvision's EfficientNet-B4 features[0..3]
under ``_backbone.`` (that layout is pinned in tests/test_models/
test_tinycd.py). The converted dict must load strictly into mmcd's TinyCD and
put every tensor where the original uses it."""
import importlib.util
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmcd  # noqa: F401
from mmcd.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'model_converters', 'tinycd2mmcd.py')
CONFIG = osp.join(REPO, 'configs', 'tinycd',
                  'tinycd_effb4_1xb8-100e_levircd-256x256.py')
spec = importlib.util.spec_from_file_location('tinycd2mmcd', TOOL)
tinycd2mmcd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tinycd2mmcd)


def pixelwise_linear(prefix, fin, fout, last_prelu=True):
    shapes = {}
    for i, (a, b) in enumerate(zip(fin, fout)):
        shapes[f'{prefix}._linears.{i}.0.weight'] = (b, a, 1, 1)
        shapes[f'{prefix}._linears.{i}.0.bias'] = (b, )
        if last_prelu or i < len(fin) - 1:
            shapes[f'{prefix}._linears.{i}.1.weight'] = (1, )
    return shapes


def mixing_block(prefix, ch_in, ch_out):
    return {f'{prefix}._convmix.0.weight': (ch_out, 2, 3, 3),
            f'{prefix}._convmix.0.bias': (ch_out, ),
            f'{prefix}._convmix.1.weight': (1, )}


def original_shapes(backbone):
    s = {f'_backbone.{k}': tuple(v.shape)
         for k, v in backbone.state_dict().items()}
    mams = [('_first_mix', 6, 3, [3, 10, 5], [10, 5, 1]),
            ('_mixing_mask.0', 48, 24, [24, 12, 6], [12, 6, 1]),
            ('_mixing_mask.1', 64, 32, [32, 16, 8], [16, 8, 1])]
    for prefix, ch_in, ch_out, fin, fout in mams:
        s.update(mixing_block(f'{prefix}._mixing', ch_in, ch_out))
        s.update(pixelwise_linear(f'{prefix}._linear', fin, fout))
    s.update(mixing_block('_mixing_mask.2', 112, 56))
    for i, (nin, nout) in enumerate([(56, 64), (64, 64), (64, 32)]):
        p = f'_up.{i}._convolution'
        s.update({f'{p}.0.weight': (nin, 1, 3, 3), f'{p}.0.bias': (nin, ),
                  f'{p}.1.weight': (1, ), f'{p}.3.weight': (nout, nin, 1, 1),
                  f'{p}.3.bias': (nout, ), f'{p}.4.weight': (1, )})
    # the last layer's activation is a Sigmoid (no parameters)
    s.update(pixelwise_linear('_classify', [32, 16, 8], [16, 8, 1],
                              last_prelu=False))
    return s


@pytest.fixture(scope='module')
def model():
    init_default_scope('mmcd')
    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.init_cfg = None
    return MODELS.build(cfg.model)


def original_state(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(shape, generator=gen) if shape else
            torch.tensor(7) for k, shape in original_shapes(
                model.backbone).items()}


def test_every_original_key_maps_and_loads_strictly(model):
    state = original_state(model)
    assert len(state) == 279  # the published levir_best.pth has 279 keys
    converted = tinycd2mmcd.convert_tinycd(state)
    model.load_state_dict(converted, strict=True)
    own = model.state_dict()
    pairs = {
        '_first_mix._mixing._convmix.0.weight':
        'neck.mask_blocks.0.mixing.conv.weight',
        '_mixing_mask.1._linear._linears.2.1.weight':
        'neck.mask_blocks.2.mlp.2.1.weight',
        '_mixing_mask.2._convmix.1.weight': 'neck.last_mixing.act.weight',
        '_up.2._convolution.3.weight': 'decode_head.up_blocks.2.conv.3.weight',
        '_classify._linears.1.1.weight': 'decode_head.classifier.1.1.weight',
        '_classify._linears.2.0.weight': 'decode_head.conv_seg.weight',
        '_classify._linears.2.0.bias': 'decode_head.conv_seg.bias',
        '_backbone.3.3.block.2.fc2.bias': 'backbone.3.3.block.2.fc2.bias',
    }
    for old, new in pairs.items():
        assert torch.equal(own[new], state[old]), old


def test_unknown_key_is_reported(model):
    state = original_state(model)
    state['module._first_mix._final_normalization.weight'] = torch.ones(3)
    state['_mixing_mask.0._mixing_out._convmix.0.weight'] = torch.ones(1)
    with pytest.raises(KeyError) as err:
        tinycd2mmcd.convert_tinycd(state)
    assert '2 key(s)' in str(err.value)
    assert '_mixing_mask.0._mixing_out._convmix.0.weight' in str(err.value)


@pytest.mark.slow
def test_cli_converts_and_never_overwrites(model, tmp_path):
    src, dst = tmp_path / 'levir_best.pth', tmp_path / 'tinycd_levir.pth'
    state = original_state(model, seed=1)
    torch.save(state, src)
    run = [sys.executable, TOOL, str(src), str(dst)]
    result = subprocess.run(run, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    model.load_state_dict(ckpt['state_dict'], strict=True)
    assert torch.equal(model.state_dict()['decode_head.conv_seg.weight'],
                       state['_classify._linears.2.0.weight'])
    before = dst.read_bytes()
    again = subprocess.run(run, capture_output=True, text=True)
    assert again.returncode != 0 and 'refusing to overwrite' in again.stderr
    assert dst.read_bytes() == before
