"""tools/model_converters/lsnet2mmcd.py on state dicts laid out like the
original LSNet code's (qaz670756/LSNet, models/Models.py, CGNet.py,
CoordAttention.py).

The original layout is written here from the original architecture (module
names and channel numbers of its code), independently of mmcd's modules; the
converted dict must then load strictly into mmcd's LSNet.
"""
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
from tool_test_utils import save_pickled_original_model

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'model_converters', 'lsnet2mmcd.py')
spec = importlib.util.spec_from_file_location('lsnet2mmcd', TOOL)
lsnet2mmcd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lsnet2mmcd)

REDUCTIONS = (4, 8, 16, 32)


def bn(prefix, c):
    return {
        f'{prefix}.weight': (c, ),
        f'{prefix}.bias': (c, ),
        f'{prefix}.running_mean': (c, ),
        f'{prefix}.running_var': (c, ),
        f'{prefix}.num_batches_tracked': ()
    }


def cg_block(prefix, cin, cout, reduction, downsample=False):
    """Shapes of the original CGNet.ContextGuidedBlock's state."""
    ch, k = cout // 2, (3 if downsample else 1)
    shapes = {
        f'{prefix}.conv1x1.0.weight': (ch, cin, k, k),
        f'{prefix}.conv1x1.0.bias': (ch, ),
        f'{prefix}.conv1x1.2.weight': (ch, ),
        f'{prefix}.f_loc.weight': (ch, 1, 3, 3),
        f'{prefix}.f_sur.weight': (ch, 1, 3, 3),
        f'{prefix}.activate.weight': (cout, ),
        f'{prefix}.f_glo.fc.0.weight': (cout // reduction, cout),
        f'{prefix}.f_glo.fc.0.bias': (cout // reduction, ),
        f'{prefix}.f_glo.fc.2.weight': (cout, cout // reduction),
        f'{prefix}.f_glo.fc.2.bias': (cout, ),
    }
    shapes.update(bn(f'{prefix}.conv1x1.1', ch))
    shapes.update(bn(f'{prefix}.bn', cout))
    return shapes


def original_shapes(variant):
    """Key -> shape of the original LSNet_{diffFPN,thin_diffFPN,denseFPN}."""
    s = {}
    # light_siamese_backbone: stem (3 blocks), level1..3 (3, 8, 12 blocks)
    cin = 3
    for j in range(3):
        s.update(cg_block(f'backbone.stem.{j}', cin, 32, 4))
        cin = 32
    stage_in, filters = [35, 131, 256], [64, 128, 256]
    for i, num in zip((1, 2, 3), (3, 8, 12)):
        for j in range(num):
            s.update(
                cg_block(f'backbone.level{i}.{j}',
                         stage_in[i - 1] if j == 0 else filters[i - 1],
                         filters[i - 1], REDUCTIONS[i], downsample=j == 0))
    for i, c in enumerate((35, 131, 256, 512)):
        s.update(bn(f'backbone.norm_prelu_{i}.0', c))
        s[f'backbone.norm_prelu_{i}.1.weight'] = (c, )
    cur = (35, 131, 256, 512)
    if variant in ('difffpn', 'thindifffpn'):
        for i in range(4):  # lateral_convs, each cgblock = Sequential(CGB)
            s.update(cg_block(f'FPN.lateral_convs.{i}.0', 2 * cur[i],
                              32 * 2**i, REDUCTIONS[i]))
        for k, i in enumerate((3, 2, 1)):  # top_down_convs, deepest first
            s.update(cg_block(f'FPN.top_down_convs.{k}.0', 32 * 2**i,
                              32 * 2**(i - 1), REDUCTIONS[i]))
        levels = (0, 1, 2, 0, 1) if variant == 'difffpn' else (0, 1)
        for k, i in enumerate(levels):
            s.update(cg_block(f'FPN.diff_convs.{k}.0', 96 * 2**i, 32 * 2**i,
                              REDUCTIONS[i]))
        s.update(cg_block(f'FPN.diff_convs.{len(levels)}.0', 96, 64, 4))
        head_ch = 128 if variant == 'difffpn' else 96
    else:
        f = (32, 64, 128)
        ins = {
            '0_1': (2 * cur[0] + 2 * cur[1], f[0], 0),
            '1_1': (2 * cur[1] + 2 * cur[2], f[1], 1),
            '2_1': (2 * cur[2] + 2 * cur[3], f[2], 2),
            '0_2': (2 * cur[0] + f[0] + f[1], f[0], 0),
            '1_2': (2 * cur[1] + f[1] + f[2], f[1], 1),
            '0_3': (2 * cur[0] + 2 * f[0] + f[1], f[0], 0),
        }
        for name, (cin, cout, level) in ins.items():
            s.update(cg_block(f'FPN.conv{name}.0', cin, cout,
                              REDUCTIONS[level]))
        head_ch = 96
    mip = max(8, head_ch // 16)  # CoordAtt(groups=16)
    s['head.ca.conv1.weight'] = (mip, head_ch, 1, 1)
    s['head.ca.conv1.bias'] = (mip, )
    s.update(bn('head.ca.bn1', mip))
    for conv in ('conv2', 'conv3'):
        s[f'head.ca.{conv}.weight'] = (head_ch, mip, 1, 1)
        s[f'head.ca.{conv}.bias'] = (head_ch, )
    s['head.conv_final.weight'] = (2, head_ch, 1, 1)
    s['head.conv_final.bias'] = (2, )
    return s


def original_state_dict(variant, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        k: (torch.randint(0, 1000, shape, generator=g) if k.endswith(
            'num_batches_tracked') else torch.randn(shape, generator=g))
        for k, shape in original_shapes(variant).items()
    }


def mmcd_model(variant):
    init_default_scope('mmcd')
    cfg = Config.fromfile(
        osp.join(REPO, lsnet2mmcd.VARIANT_CONFIGS[variant]))
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('variant', ['difffpn', 'thindifffpn', 'densefpn'])
def test_every_original_key_maps_and_loads_strictly(variant):
    original = original_state_dict(variant)
    converted, detected = lsnet2mmcd.convert_lsnet(original)
    assert detected == variant
    assert len(converted) == len(original)
    model = mmcd_model(variant)
    model.load_state_dict(converted, strict=True)  # shapes checked too
    own = model.state_dict()
    # values travel unchanged: each converted tensor is one original tensor
    originals = {id(v): k for k, v in original.items()}
    assert len({id(v) for v in converted.values()}) == len(original)
    assert all(id(v) in originals for v in converted.values())
    # spot checks of the non-obvious renames, from the original code
    pairs = {
        'backbone.norm_prelu_1.1.weight': 'backbone.stage_acts.1.weight',
        'backbone.level3.11.f_sur.weight':
        'backbone.stages.3.11.conv_surround.weight',
        'head.ca.conv3.weight': 'decode_head.attention.conv_w.weight',
        'head.conv_final.bias': 'decode_head.conv_seg.bias',
    }
    if variant != 'densefpn':
        pairs['FPN.top_down_convs.0.0.conv1x1.0.weight'] = (
            'neck.top_down_blocks.2.conv_in.weight')
    if variant == 'difffpn':
        pairs['FPN.diff_convs.4.0.bn.running_var'] = (
            'neck.second_diff_blocks.1.norm_joint.running_var')
        pairs['FPN.diff_convs.5.0.f_glo.fc.2.bias'] = (
            'neck.last_diff_block.global_context.fc.2.bias')
    elif variant == 'thindifffpn':
        pairs['FPN.diff_convs.2.0.f_loc.weight'] = (
            'neck.last_diff_block.conv_local.weight')
    else:
        pairs['FPN.conv1_2.0.conv1x1.1.bias'] = 'neck.block1_2.norm_in.bias'
    for old, new in pairs.items():
        assert torch.equal(own[new], original[old]), (old, new)


def test_unknown_key_is_reported():
    original = original_state_dict('difffpn')
    original['FPN.up2x.up.weight'] = torch.zeros(32, 32, 2, 2)
    with pytest.raises(KeyError, match='FPN.up2x.up.weight'):
        lsnet2mmcd.convert_lsnet(original)


@pytest.mark.slow
def test_cli_converts_a_pickled_original_model(tmp_path):
    original = original_state_dict('densefpn', seed=1)
    src, dst = tmp_path / 'checkpoint_epoch_100.pt', tmp_path / 'mmcd.pth'
    save_pickled_original_model(original, src, 'LSNetNode')
    # read without the original code, in a fresh process
    result = subprocess.run([sys.executable, TOOL, str(src), str(dst)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'densefpn' in result.stdout
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    model = mmcd_model('densefpn')
    model.load_state_dict(ckpt['state_dict'], strict=True)
    assert torch.equal(model.state_dict()['neck.block0_3.conv_local.weight'],
                       original['FPN.conv0_3.0.f_loc.weight'])
    assert ckpt['meta']['dataset_meta']['classes'] == ('unchanged',
                                                       'changed')
    # the output is never overwritten
    again = subprocess.run([sys.executable, TOOL, str(src), str(dst)],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and 'mmcd.pth' in again.stderr


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / 'evil.pt'
    torch.save({'x': torch.zeros(1), 'f': print}, path)
    with pytest.raises(Exception, match='builtins.print'):
        lsnet2mmcd.load_original_checkpoint(str(path))
