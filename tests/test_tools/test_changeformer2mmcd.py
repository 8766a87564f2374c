"""tools/model_converters/changeformer2mmcd.py on state dicts laid out like
the official ChangeFormer code's (wgcban/ChangeFormer, models/ChangeFormer.py
``ChangeFormerV6``: ``Tenc_x2`` = EncoderTransformer_v3, ``TDec_x2`` =
DecoderTransformer_v3).

The official layout is written here from the original architecture (module
names and shapes of its code), independently of mmcd's modules; the
converted dict must then load strictly into mmcd's model, and the converted
tensors must sit where the official computation uses them.
"""
import importlib.util
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmcd  # noqa: F401
from mmcd.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'model_converters', 'changeformer2mmcd.py')
CONFIG = osp.join(REPO, 'configs', 'changeformer',
                  'changeformer_v6-e256_1xb16-200e_levircd-256x256.py')
spec = importlib.util.spec_from_file_location('changeformer2mmcd', TOOL)
changeformer2mmcd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(changeformer2mmcd)

DIMS, DEPTHS, HEADS, SR = (8, 16, 24, 32), (1, 2, 1, 1), (1, 2, 2, 4), (
    8, 4, 2, 1)
EMBED, CLASSES = 16, 2


def official_shapes(dims=DIMS, depths=DEPTHS, sr=SR, embed=EMBED):
    """Shapes of ChangeFormerV6's state (patch size 7, mlp ratio 4)."""
    shapes, cin = {}, 3
    for s, (c, depth, r) in enumerate(zip(dims, depths, sr), start=1):
        p = f'Tenc_x2.patch_embed{s}'
        shapes.update({f'{p}.proj.weight': (c, cin, 7, 7),
                       f'{p}.proj.bias': (c, ), f'{p}.norm.weight': (c, ),
                       f'{p}.norm.bias': (c, )})
        for j in range(depth):
            b = f'Tenc_x2.block{s}.{j}'
            shapes.update({
                f'{b}.norm1.weight': (c, ), f'{b}.norm1.bias': (c, ),
                f'{b}.attn.q.weight': (c, c), f'{b}.attn.q.bias': (c, ),
                f'{b}.attn.kv.weight': (2 * c, c),
                f'{b}.attn.kv.bias': (2 * c, ),
                f'{b}.attn.proj.weight': (c, c), f'{b}.attn.proj.bias': (c, ),
                f'{b}.norm2.weight': (c, ), f'{b}.norm2.bias': (c, ),
                f'{b}.mlp.fc1.weight': (4 * c, c),
                f'{b}.mlp.fc1.bias': (4 * c, ),
                f'{b}.mlp.dwconv.dwconv.weight': (4 * c, 1, 3, 3),
                f'{b}.mlp.dwconv.dwconv.bias': (4 * c, ),
                f'{b}.mlp.fc2.weight': (c, 4 * c), f'{b}.mlp.fc2.bias': (c, ),
            })
            if r > 1:
                shapes.update({
                    f'{b}.attn.sr.weight': (c, c, r, r),
                    f'{b}.attn.sr.bias': (c, ),
                    f'{b}.attn.norm.weight': (c, ),
                    f'{b}.attn.norm.bias': (c, )})
        shapes.update({f'Tenc_x2.norm{s}.weight': (c, ),
                       f'Tenc_x2.norm{s}.bias': (c, )})
        cin = c

    def bn(prefix, c):
        return {f'{prefix}.weight': (c, ), f'{prefix}.bias': (c, ),
                f'{prefix}.running_mean': (c, ),
                f'{prefix}.running_var': (c, ),
                f'{prefix}.num_batches_tracked': ()}

    d = 'TDec_x2'
    for k, c in enumerate(dims, start=1):
        shapes.update({f'{d}.linear_c{k}.proj.weight': (embed, c),
                       f'{d}.linear_c{k}.proj.bias': (embed, )})
        shapes.update({f'{d}.diff_c{k}.0.weight': (embed, 2 * embed, 3, 3),
                       f'{d}.diff_c{k}.0.bias': (embed, ),
                       f'{d}.diff_c{k}.3.weight': (embed, embed, 3, 3),
                       f'{d}.diff_c{k}.3.bias': (embed, )})
        shapes.update(bn(f'{d}.diff_c{k}.2', embed))
        shapes.update({
            f'{d}.make_pred_c{k}.0.weight': (CLASSES, embed, 3, 3),
            f'{d}.make_pred_c{k}.0.bias': (CLASSES, ),
            f'{d}.make_pred_c{k}.3.weight': (CLASSES, CLASSES, 3, 3),
            f'{d}.make_pred_c{k}.3.bias': (CLASSES, )})
        shapes.update(bn(f'{d}.make_pred_c{k}.2', CLASSES))
    shapes.update({f'{d}.linear_fuse.0.weight': (embed, 4 * embed, 1, 1),
                   f'{d}.linear_fuse.0.bias': (embed, )})
    shapes.update(bn(f'{d}.linear_fuse.1', embed))
    for up, dense in (('convd2x', 'dense_2x'), ('convd1x', 'dense_1x')):
        shapes.update({f'{d}.{up}.conv2d.weight': (embed, embed, 4, 4),
                       f'{d}.{up}.conv2d.bias': (embed, )})
        for conv in ('conv1', 'conv2'):
            shapes.update({
                f'{d}.{dense}.0.{conv}.conv2d.weight': (embed, embed, 3, 3),
                f'{d}.{dense}.0.{conv}.conv2d.bias': (embed, )})
    shapes.update({f'{d}.change_probability.conv2d.weight':
                   (CLASSES, embed, 3, 3),
                   f'{d}.change_probability.conv2d.bias': (CLASSES, )})
    return shapes


def official_state(seed=0, **kwargs):
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, shape in official_shapes(**kwargs).items():
        if k.endswith('num_batches_tracked'):
            state[k] = torch.tensor(7)
        elif k.endswith('running_var'):
            state[k] = torch.rand(shape, generator=g) + 0.5
        else:
            state[k] = torch.randn(shape, generator=g) * 0.1
    return state


def build_tiny():
    init_default_scope('mmcd')
    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.update(embed_dims=DIMS, num_layers=DEPTHS,
                              num_heads=HEADS, sr_ratios=SR)
    cfg.model.neck.in_channels = DIMS
    cfg.model.decode_head.update(in_channels=DIMS, channels=EMBED)
    return MODELS.build(cfg.model).eval()


def test_every_official_key_maps_and_loads_strictly():
    state = official_state()
    converted = changeformer2mmcd.convert_changeformer(state)
    model = build_tiny()
    # strict: every mmcd tensor comes from the official dict, none is left
    model.load_state_dict(converted, strict=True)
    # q and kv become one in_proj (q first), the Mix-FFN linears 1x1 convs
    attn = model.backbone.layers[1][1][1].attn.attn
    assert torch.equal(attn.in_proj_weight, torch.cat([
        state['Tenc_x2.block2.1.attn.q.weight'],
        state['Tenc_x2.block2.1.attn.kv.weight']]))
    assert torch.equal(attn.in_proj_bias, torch.cat([
        state['Tenc_x2.block2.1.attn.q.bias'],
        state['Tenc_x2.block2.1.attn.kv.bias']]))
    fc1 = model.backbone.layers[0][1][0].ffn.layers[0]
    assert torch.equal(fc1.weight[:, :, 0, 0],
                       state['Tenc_x2.block1.0.mlp.fc1.weight'])
    assert torch.equal(model.decode_head.embeds[3].weight,
                       state['TDec_x2.linear_c4.proj.weight'])
    assert torch.equal(model.decode_head.conv_seg.weight,
                       state['TDec_x2.change_probability.conv2d.weight'])


def test_converted_weights_compute_the_official_embedding_and_stem():
    state = official_state(seed=1)
    model = build_tiny()
    model.load_state_dict(changeformer2mmcd.convert_changeformer(state))
    x = torch.randn(1, 3, 64, 64)
    # OverlapPatchEmbed: conv 7x7 stride 4 padding 3, LayerNorm (eps 1e-5)
    ref = F.conv2d(x, state['Tenc_x2.patch_embed1.proj.weight'],
                   state['Tenc_x2.patch_embed1.proj.bias'], 4, 3)
    ref = F.layer_norm(ref.flatten(2).transpose(1, 2), (DIMS[0], ),
                       state['Tenc_x2.patch_embed1.norm.weight'],
                       state['Tenc_x2.patch_embed1.norm.bias'], 1e-5)
    with torch.no_grad():
        got, hw = model.backbone.layers[0][0](x)
    assert hw == (16, 16)
    assert (got - ref).abs().max() < 1e-5


def test_unmapped_keys_stop_the_conversion_and_are_listed():
    state = official_state()
    state['TDec_x2.extra.weight'] = torch.zeros(1)
    state['Tenc_x2.block1.0.attn.rel_pos'] = torch.zeros(1)
    with pytest.raises(KeyError) as err:
        changeformer2mmcd.convert_changeformer(state)
    assert 'TDec_x2.extra.weight' in str(err.value)
    assert 'Tenc_x2.block1.0.attn.rel_pos' in str(err.value)


def test_q_without_kv_is_not_silently_accepted():
    state = official_state()
    del state['Tenc_x2.block3.0.attn.kv.weight']
    with pytest.raises(KeyError, match='block3.0.attn.q.weight'):
        changeformer2mmcd.convert_changeformer(state)


def test_module_prefix_is_dropped():
    state = {'module.' + k: v for k, v in official_state().items()}
    converted = changeformer2mmcd.convert_changeformer(state)
    build_tiny().load_state_dict(converted, strict=True)


def test_cli_reads_the_trainer_checkpoint_and_never_overwrites(tmp_path):
    # models/trainer.py _save_checkpoint: best_val_acc is a numpy scalar
    src, dst = tmp_path / 'best_ckpt.pt', tmp_path / 'cf.pth'
    torch.save(dict(epoch_id=3, best_val_acc=np.float64(0.9),
                    best_epoch_id=3, model_G_state_dict=official_state(),
                    optimizer_G_state_dict={}), src)
    result = subprocess.run([sys.executable, TOOL, str(src), str(dst)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'changeformer_v6-e256_1xb16-200e_levircd' in result.stdout
    assert f'model.decode_head.channels={EMBED}' in result.stdout
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    build_tiny().load_state_dict(ckpt['state_dict'], strict=True)
    assert ckpt['meta']['dataset_meta']['classes'] == ('unchanged',
                                                       'changed')
    before = dst.read_bytes()
    again = subprocess.run([sys.executable, TOOL, str(src), str(dst)],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and 'refusing to overwrite' in again.stderr
    assert dst.read_bytes() == before
