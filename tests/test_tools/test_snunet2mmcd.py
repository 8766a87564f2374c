"""tools/model_converters/snunet2mmcd.py on state dicts laid out like the
original SNUNet-CD code's (likyoo/Siam-NestedUNet, models/Models.py,
SNUNet_ECAM).

The original layout is written here from the original architecture (module
names conv{i}_{j} / Up{i}_{j}.up / ca / ca1 / conv_final and their channel
numbers), independently of mmcd's modules; the converted dict must then
load strictly into mmcd's SNUNet-CD."""
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
TOOL = osp.join(REPO, 'tools', 'model_converters', 'snunet2mmcd.py')
spec = importlib.util.spec_from_file_location('snunet2mmcd', TOOL)
snunet2mmcd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(snunet2mmcd)


def conv_block_nested(prefix, cin, c):
    shapes = {f'{prefix}.conv1.weight': (c, cin, 3, 3),
              f'{prefix}.conv1.bias': (c, ),
              f'{prefix}.conv2.weight': (c, c, 3, 3),
              f'{prefix}.conv2.bias': (c, )}
    for bn in ('bn1', 'bn2'):
        shapes.update({f'{prefix}.{bn}.weight': (c, ),
                       f'{prefix}.{bn}.bias': (c, ),
                       f'{prefix}.{bn}.running_mean': (c, ),
                       f'{prefix}.{bn}.running_var': (c, ),
                       f'{prefix}.{bn}.num_batches_tracked': ()})
    return shapes


def original_shapes(n1):
    """Key -> shape of the original SNUNet_ECAM(in_ch=3, out_ch=2)."""
    f = [n1, n1 * 2, n1 * 4, n1 * 8, n1 * 16]
    s = conv_block_nested('conv0_0', 3, f[0])
    for i in range(1, 5):
        s.update(conv_block_nested(f'conv{i}_0', f[i - 1], f[i]))
    for j in range(1, 5):
        for i in range(5 - j):
            s.update(conv_block_nested(f'conv{i}_{j}',
                                       f[i] * (j + 1) + f[i + 1], f[i]))
    for name in ('1_0', '2_0', '3_0', '4_0', '1_1', '2_1', '3_1', '1_2',
                 '2_2', '1_3'):
        c = f[int(name[0])]
        s[f'Up{name}.up.weight'] = (c, c, 2, 2)  # ConvTranspose2d(c, c)
        s[f'Up{name}.up.bias'] = (c, )
    s['ca.fc1.weight'] = (4 * n1 // 16, 4 * n1, 1, 1)
    s['ca.fc2.weight'] = (4 * n1, 4 * n1 // 16, 1, 1)
    s['ca1.fc1.weight'] = (n1 // 4, n1, 1, 1)
    s['ca1.fc2.weight'] = (n1, n1 // 4, 1, 1)
    s['conv_final.weight'] = (2, 4 * n1, 1, 1)
    s['conv_final.bias'] = (2, )
    return s


def original_state_dict(n1, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        k: (torch.randint(0, 1000, shape, generator=g) if k.endswith(
            'num_batches_tracked') else torch.randn(shape, generator=g))
        for k, shape in original_shapes(n1).items()
    }


def mmcd_model(n1):
    init_default_scope('mmcd')
    cfg = Config.fromfile(osp.join(
        REPO, 'configs', 'snunet', f'snunet_c{n1}_1xb16-100e_cdd-256x256.py'))
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('n1', [16, 32])
def test_every_original_key_maps_and_loads_strictly(n1):
    original = original_state_dict(n1)
    assert len(original) == 236
    converted, width = snunet2mmcd.convert_snunet(original)
    assert width == n1 and len(converted) == len(original)
    model = mmcd_model(n1)
    model.load_state_dict(converted, strict=True)  # shapes checked too
    own = model.state_dict()
    originals = {id(v) for v in original.values()}
    assert {id(v) for v in converted.values()} == originals
    pairs = {
        'conv3_0.bn2.running_var': 'backbone.stages.3.norm2.running_var',
        'conv4_0.conv1.weight': 'neck.block4_0.conv1.weight',
        'conv1_3.bn1.bias': 'neck.block1_3.norm1.bias',
        'Up4_0.up.weight': 'neck.up4_0.weight',
        'ca.fc2.weight': 'decode_head.attention.attention.mlp.2.weight',
        'ca1.fc1.weight':
        'decode_head.attention.intra_attention.mlp.0.weight',
        'conv_final.bias': 'decode_head.conv_seg.bias',
    }
    for old, new in pairs.items():
        assert torch.equal(own[new], original[old]), (old, new)


def test_module_prefix_and_unknown_keys():
    original = {f'module.{k}': v for k, v in original_state_dict(8).items()}
    converted, width = snunet2mmcd.convert_snunet(original)
    assert width == 8 and 'neck.block0_4.conv2.bias' in converted
    # Siam_NestedUNet_Conc's deep-supervision heads have no counterpart
    original['module.final1.weight'] = torch.zeros(2, 8, 1, 1)
    with pytest.raises(KeyError, match='final1.weight'):
        snunet2mmcd.convert_snunet(original)
    with pytest.raises(KeyError, match='not a SNUNet-CD checkpoint'):
        snunet2mmcd.convert_snunet({'x.weight': torch.zeros(1)})


@pytest.mark.slow
def test_cli_converts_a_pickled_model_and_never_overwrites(tmp_path):
    original = original_state_dict(16, seed=1)
    src, dst = tmp_path / 'snunet-16.pt', tmp_path / 'mmcd.pth'
    save_pickled_original_model(original, src, 'SNUNetNode')
    result = subprocess.run([sys.executable, TOOL, str(src), str(dst)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'c=16' in result.stdout
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    model = mmcd_model(16)
    model.load_state_dict(ckpt['state_dict'], strict=True)
    assert torch.equal(model.state_dict()['neck.up2_2.bias'],
                       original['Up2_2.up.bias'])
    again = subprocess.run([sys.executable, TOOL, str(src), str(dst)],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and 'mmcd.pth' in again.stderr
