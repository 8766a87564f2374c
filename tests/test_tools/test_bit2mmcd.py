"""tools/model_converters/bit2mmcd.py on state dicts laid out like the
official BIT code's (justchenhao/BIT_CD, models/networks.py BASE_Transformer
``base_transformer_pos_s4_dd8``, models/help_funcs.py, models/resnet.py).

The original layout and a functional forward of its token transformer and
classifier are written here from the original's module names and equations,
independently of mmcd's modules; the converted dict must load strictly into
mmcd's BIT and give the same logits.
"""
import importlib.util
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmcd  # noqa: F401
from mmcd.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'model_converters', 'bit2mmcd.py')
CONFIG = osp.join(REPO, 'configs', 'bit',
                  'bit_r18_1xb8-200e_levircd-256x256.py')
spec = importlib.util.spec_from_file_location('bit2mmcd', TOOL)
bit2mmcd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bit2mmcd)

DIM, HEADS, TOKENS = 32, 8, 4


def bn(prefix, c):
    return {
        f'{prefix}.weight': (c, ),
        f'{prefix}.bias': (c, ),
        f'{prefix}.running_mean': (c, ),
        f'{prefix}.running_var': (c, ),
        f'{prefix}.num_batches_tracked': ()
    }


def resnet18_shapes():
    """torchvision's resnet18 state (BIT's models/resnet.py), ``resnet.``"""
    shapes = {'resnet.conv1.weight': (64, 3, 7, 7)}
    shapes.update(bn('resnet.bn1', 64))
    cin = 64
    for i, c in enumerate((64, 128, 256, 512), 1):
        for j in range(2):
            p = f'resnet.layer{i}.{j}'
            shapes[f'{p}.conv1.weight'] = (c, cin if j == 0 else c, 3, 3)
            shapes.update(bn(f'{p}.bn1', c))
            shapes[f'{p}.conv2.weight'] = (c, c, 3, 3)
            shapes.update(bn(f'{p}.bn2', c))
        if cin != c:
            shapes[f'resnet.layer{i}.0.downsample.0.weight'] = (c, cin, 1, 1)
            shapes.update(bn(f'resnet.layer{i}.0.downsample.1', c))
        cin = c
    shapes['resnet.fc.weight'] = (1000, 512)
    shapes['resnet.fc.bias'] = (1000, )
    return shapes


def layer_shapes(prefix, head_dim, cross):
    """One Residual(PreNorm(attention)) + Residual(PreNorm(FeedForward))."""
    inner = HEADS * head_dim
    shapes = {f'{prefix}.0.fn.norm.weight': (DIM, ),
              f'{prefix}.0.fn.norm.bias': (DIM, )}
    if cross:
        for name in ('to_q', 'to_k', 'to_v'):
            shapes[f'{prefix}.0.fn.fn.{name}.weight'] = (inner, DIM)
    else:
        shapes[f'{prefix}.0.fn.fn.to_qkv.weight'] = (3 * inner, DIM)
    shapes.update({
        f'{prefix}.0.fn.fn.to_out.0.weight': (DIM, inner),
        f'{prefix}.0.fn.fn.to_out.0.bias': (DIM, ),
        f'{prefix}.1.fn.norm.weight': (DIM, ),
        f'{prefix}.1.fn.norm.bias': (DIM, ),
        f'{prefix}.1.fn.fn.net.0.weight': (2 * DIM, DIM),
        f'{prefix}.1.fn.fn.net.0.bias': (2 * DIM, ),
        f'{prefix}.1.fn.fn.net.3.weight': (DIM, 2 * DIM),
        f'{prefix}.1.fn.fn.net.3.bias': (DIM, ),
    })
    return shapes


def original_state_dict(dec_head_dim=64, seed=0):
    """A BASE_Transformer(token_len=4, resnet_stages_num=4, with_pos=
    'learned', enc_depth=1, dec_depth=8) state dict with random values."""
    shapes = resnet18_shapes()
    shapes.update({
        'conv_pred.weight': (DIM, 256, 3, 3),
        'conv_pred.bias': (DIM, ),
        'conv_a.weight': (TOKENS, DIM, 1, 1),
        'pos_embedding': (1, 2 * TOKENS, DIM),
    })
    shapes.update(layer_shapes('transformer.layers.0', 64, cross=False))
    for i in range(8):
        shapes.update(
            layer_shapes(f'transformer_decoder.layers.{i}', dec_head_dim,
                         cross=True))
    shapes['classifier.0.weight'] = (DIM, DIM, 3, 3)
    shapes.update(bn('classifier.1', DIM))
    shapes['classifier.3.weight'] = (2, DIM, 3, 3)
    shapes['classifier.3.bias'] = (2, )
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in shapes.items():
        if key.endswith('num_batches_tracked'):
            state[key] = torch.tensor(7)
        elif key.endswith('running_var'):
            state[key] = torch.rand(shape, generator=gen) + 0.5
        else:
            # the original's scales: N(0, 1) position embedding, wide
            # projections (attention far from uniform)
            std = 1. if key == 'pos_embedding' else (
                0.3 if len(shape) == 2 else 0.1)
            state[key] = torch.randn(shape, generator=gen) * std
    return state


def build_bit(dec_head_dim=64):
    init_default_scope('mmcd')
    cfg = Config.fromfile(CONFIG)
    cfg.model.neck.dec_head_channels = dec_head_dim
    return MODELS.build(cfg.model).eval()


def ref_attention(x, m, wq, wk, wv, wo, bo):
    """help_funcs.Attention / Cross_Attention: heads of x @ W^T, logits
    scaled by dim ** -0.5."""
    def heads(t):
        b, n, _ = t.shape
        return t.reshape(b, n, HEADS, -1).permute(0, 2, 1, 3)

    q, k, v = heads(x @ wq.t()), heads(m @ wk.t()), heads(m @ wv.t())
    dots = torch.einsum('bhid,bhjd->bhij', q, k) * DIM**-0.5
    out = torch.einsum('bhij,bhjd->bhid', dots.softmax(-1), v)
    out = out.permute(0, 2, 1, 3).flatten(2)
    return out @ wo.t() + bo


def ref_layer(sd, p, x, m=None):
    norm1 = (sd[f'{p}.0.fn.norm.weight'], sd[f'{p}.0.fn.norm.bias'])
    xn = F.layer_norm(x, (DIM, ), *norm1)
    mn = xn if m is None else F.layer_norm(m, (DIM, ), *norm1)
    if m is None:
        wq, wk, wv = sd[f'{p}.0.fn.fn.to_qkv.weight'].chunk(3)
    else:
        wq, wk, wv = (sd[f'{p}.0.fn.fn.to_{n}.weight'] for n in 'qkv')
    x = x + ref_attention(xn, mn, wq, wk, wv, sd[f'{p}.0.fn.fn.to_out.0.'
                                                 'weight'],
                          sd[f'{p}.0.fn.fn.to_out.0.bias'])
    h = F.layer_norm(x, (DIM, ), sd[f'{p}.1.fn.norm.weight'],
                     sd[f'{p}.1.fn.norm.bias'])
    h = F.gelu(F.linear(h, sd[f'{p}.1.fn.fn.net.0.weight'],
                        sd[f'{p}.1.fn.fn.net.0.bias']))
    return x + F.linear(h, sd[f'{p}.1.fn.fn.net.3.weight'],
                        sd[f'{p}.1.fn.fn.net.3.bias'])


def ref_neck_head(sd, x1, x2):
    """BASE_Transformer.forward after the ResNet, eval mode: the change
    feature |X_A - X_B| and the logits."""
    def single(x):
        x = F.interpolate(x, scale_factor=2, mode='nearest')
        return F.conv2d(x, sd['conv_pred.weight'], sd['conv_pred.bias'],
                        padding=1)

    def tokens(x):
        b, c = x.shape[:2]
        att = F.conv2d(x, sd['conv_a.weight']).view(b, TOKENS, -1)
        return torch.einsum('bln,bcn->blc', att.softmax(-1), x.view(b, c, -1))

    x1, x2 = single(x1), single(x2)
    t = torch.cat([tokens(x1), tokens(x2)], 1) + sd['pos_embedding']
    t = ref_layer(sd, 'transformer.layers.0', t)
    t1, t2 = t.chunk(2, dim=1)

    def decode(x, m):
        b, c, h, w = x.shape
        q = x.flatten(2).transpose(1, 2)
        for i in range(8):
            q = ref_layer(sd, f'transformer_decoder.layers.{i}', q, m)
        return q.transpose(1, 2).reshape(b, c, h, w)

    change = (decode(x1, t1) - decode(x2, t2)).abs()
    x = F.interpolate(change, scale_factor=4, mode='bilinear')
    x = F.conv2d(x, sd['classifier.0.weight'], padding=1)
    x = F.batch_norm(x, sd['classifier.1.running_mean'],
                     sd['classifier.1.running_var'],
                     sd['classifier.1.weight'], sd['classifier.1.bias'])
    return change, F.conv2d(F.relu(x), sd['classifier.3.weight'],
                            sd['classifier.3.bias'], padding=1)


@pytest.mark.parametrize('dec_head_dim', [64, 8])
def test_converted_weights_give_the_original_logits(dec_head_dim):
    sd = original_state_dict(dec_head_dim)
    converted, dropped = bit2mmcd.convert_bit(
        {f'module.{k}': v
         for k, v in sd.items()})  # DataParallel's prefix too
    assert sorted(dropped) == sorted(
        k for k in sd if k.startswith(('resnet.layer4.', 'resnet.fc.')))
    assert len(converted) + len(dropped) == len(sd) + 2  # to_qkv -> q, k, v
    model = build_bit(dec_head_dim)
    model.load_state_dict(converted, strict=True)
    gen = torch.Generator().manual_seed(1)
    pair = torch.rand(1, 6, 32, 32, generator=gen) * 2 - 1
    with torch.no_grad():
        change = model.extract_feat(pair)
        got = model.decode_head.forward(change)
        feat_a, feat_b = (model.backbone(x)[-1] for x in pair.chunk(2, 1))
        expected_change, expected = ref_neck_head(sd, feat_a, feat_b)
    assert change[0].shape == (1, DIM, 8, 8) and got.shape == (1, 2, 32, 32)
    torch.testing.assert_close(change[0], expected_change, rtol=1e-4,
                               atol=1e-5)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_unmapped_keys_stop_the_conversion_and_are_listed():
    sd = original_state_dict()
    sd['pos_embedding_decoder'] = torch.zeros(1, 32, 64, 64)
    sd['transformer.layers.0.2.fn.norm.weight'] = torch.zeros(32)
    with pytest.raises(KeyError, match='2 key.*pos_embedding_decoder.*'
                       r'transformer\.layers\.0\.2'):
        bit2mmcd.convert_bit(sd)


def test_missing_key_is_not_silently_accepted():
    sd = original_state_dict()
    del sd['conv_a.weight']
    converted, _ = bit2mmcd.convert_bit(sd)
    with pytest.raises(RuntimeError, match='token_attention'):
        build_bit().load_state_dict(converted, strict=True)


def test_cli_reads_the_trainer_checkpoint_and_never_overwrites(tmp_path):
    src, dst = tmp_path / 'best_ckpt.pt', tmp_path / 'bit_mmcd.pth'
    torch.save(
        dict(model_G_state_dict=original_state_dict(), epoch_id=3,
             best_val_acc=0.5), src)
    run = [sys.executable, TOOL, str(src), str(dst)]
    out = subprocess.run(run, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert 'dropped 32 unused' in out.stdout
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    build_bit().load_state_dict(ckpt['state_dict'], strict=True)
    assert ckpt['meta']['dataset_meta']['classes'] == ('unchanged',
                                                       'changed')
    before = dst.read_bytes()
    again = subprocess.run(run, capture_output=True, text=True)
    assert again.returncode != 0 and 'refusing to overwrite' in again.stderr
    assert dst.read_bytes() == before
    bad = tmp_path / 'not_bit.pt'
    torch.save(dict(epoch_id=3), bad)
    out = subprocess.run([sys.executable, TOOL, str(bad),
                          str(tmp_path / 'x.pth')], capture_output=True,
                         text=True)
    assert out.returncode != 0 and 'model_G_state_dict' in out.stderr
