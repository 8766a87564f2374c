"""ChangerEx (Changer, Fang et al. TGRS 2023; open-cd's code): exchange
layers, interaction backbones inside SiameseEncoderDecoder, the head, the
counts of the full-size models, the fast path, and a tiny end to end run.
"""
import glob
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import load
from mmengine.registry import init_default_scope

import mmcd  # noqa: F401  (before mmseg: the mmcv.ops stand-in)
from cli_helpers import loader_options, run_python
from mmcd.datasets.synthetic import write_synthetic_cdd
from mmcd.models.backbones import (InteractionMixVisionTransformer,
                                   InteractionResNetV1c)
from mmcd.models.utils import (ChangeLogits, ChannelExchange,
                               FlowDualAlignment, SpatialExchange, flow_warp)
from mmcd.registry import MODELS
from mmseg.models.backbones import MixVisionTransformer, ResNetV1c  # noqa

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASE = osp.join(REPO, 'configs', '_base_', 'models')
EXCHANGES = (None, dict(type='SpatialExchange', p=1 / 2),
             dict(type='ChannelExchange', p=1 / 2),
             dict(type='ChannelExchange', p=1 / 2))


def count(module):
    return sum(p.numel() for p in module.parameters())


def build(name, **changes):
    init_default_scope('mmcd')
    cfg = Config.fromfile(osp.join(BASE, f'changer_ex_{name}.py'))
    cfg.model.backbone.pop('init_cfg', None)
    cfg.merge_from_dict(changes)
    return MODELS.build(cfg.model)


def tiny_r18():
    """ChangerEx-R18 at 1/8 width (stem and base channels 8, head 16)."""
    chans = [8, 16, 32, 64]
    return build('r18', **{
        'model.backbone.stem_channels': 8,
        'model.backbone.base_channels': 8,
        'model.neck.in_channels': chans,
        'model.decode_head.in_channels': chans,
        'model.decode_head.channels': 16
    })


# -- full-size counts (the official code's, per part) ------------------------
@pytest.mark.parametrize('name,backbone,head', [
    ('r18', 11_195_744, 195_202),
    ('mit-b0', 3_319_392, 137_858),
])
def test_parameter_counts_equal_open_cd(name, backbone, head):
    model = build(name)
    assert count(model.backbone) == backbone
    assert count(model.decode_head) == head
    assert count(model.neck) == 0
    assert count(model) == backbone + head


# -- exchange layers ---------------------------------------------------------
def test_channel_exchange_swaps_every_second_channel():
    a, b = torch.randn(2, 5, 3, 4), torch.randn(2, 5, 3, 4)
    layer = ChannelExchange(p=1 / 2)
    for mode in (True, False):  # the same in training and evaluation
        layer.train(mode)
        out_a, out_b = layer(a, b)
        swapped = [0, 2, 4]
        kept = [1, 3]
        assert torch.equal(out_a[:, swapped], b[:, swapped])
        assert torch.equal(out_b[:, swapped], a[:, swapped])
        assert torch.equal(out_a[:, kept], a[:, kept])
        assert torch.equal(out_b[:, kept], b[:, kept])
    # period int(1 / p): every third channel
    out_a, _ = ChannelExchange(p=1 / 3)(a, b)
    assert torch.equal(out_a[:, [0, 3]], b[:, [0, 3]])
    assert torch.equal(out_a[:, [1, 2, 4]], a[:, [1, 2, 4]])


def test_spatial_exchange_swaps_every_second_column():
    a, b = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    out_a, out_b = SpatialExchange(p=1 / 2).eval()(a, b)
    assert torch.equal(out_a[..., [0, 2, 4]], b[..., [0, 2, 4]])
    assert torch.equal(out_b[..., [0, 2, 4]], a[..., [0, 2, 4]])
    assert torch.equal(out_a[..., [1, 3]], a[..., [1, 3]])
    assert torch.equal(out_b[..., [1, 3]], b[..., [1, 3]])
    with pytest.raises(ValueError, match='p must be in'):
        SpatialExchange(p=0)


# -- interaction backbones ---------------------------------------------------
def test_interaction_resnet_is_resnetv1c_per_date_plus_exchanges():
    kwargs = dict(depth=18, stem_channels=8, base_channels=8)
    torch.manual_seed(0)
    plain = ResNetV1c(**kwargs)
    none = InteractionResNetV1c(**kwargs)
    none.load_state_dict(plain.state_dict())
    ia = InteractionResNetV1c(interaction_cfg=EXCHANGES, **kwargs)
    ia.load_state_dict(plain.state_dict())  # no extra keys
    for m in (plain, none, ia):  # (mmseg's ResNet.train returns None)
        m.eval()
    assert InteractionResNetV1c.takes_both_dates
    a, b = torch.randn(1, 3, 64, 64), torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        feats_a, feats_b = none(a, b)
        for x, y, z in zip(plain(a), plain(b), zip(feats_a, feats_b)):
            assert torch.equal(x, z[0]) and torch.equal(y, z[1])
        # stage 1 has no interaction, stage 2's columns are exchanged
        ex_a, ex_b = ia(a, b)
        assert torch.equal(ex_a[0], feats_a[0])
        stem_a, stem_b = plain.maxpool(plain.stem(a)), plain.maxpool(
            plain.stem(b))
        l1a, l1b = plain.layer1(stem_a), plain.layer1(stem_b)
        l2a, l2b = SpatialExchange()(plain.layer2(l1a), plain.layer2(l1b))
        assert torch.equal(ex_a[1], l2a) and torch.equal(ex_b[1], l2b)
        assert not torch.equal(ex_a[3], feats_a[3])


def test_interaction_mit_without_interaction_is_mit_per_date():
    kwargs = dict(embed_dims=8, num_heads=[1, 1, 1, 1],
                  num_layers=[1, 1, 1, 1])
    torch.manual_seed(0)
    plain = MixVisionTransformer(**kwargs).eval()
    mit = InteractionMixVisionTransformer(**kwargs).eval()
    mit.load_state_dict(plain.state_dict())
    a, b = torch.randn(1, 3, 64, 64), torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        feats_a, feats_b = mit(a, b)
        for x, y, fa, fb in zip(plain(a), plain(b), feats_a, feats_b):
            assert torch.equal(x, fa) and torch.equal(y, fb)
    with pytest.raises(ValueError, match='one entry'):
        InteractionMixVisionTransformer(interaction_cfg=(None, ), **kwargs)


# -- head --------------------------------------------------------------------
def test_flow_warp_with_zero_flow_is_identity():
    x = torch.randn(2, 3, 5, 7)
    out = flow_warp(x, torch.zeros(2, 2, 5, 7))
    assert torch.allclose(out, x, atol=1e-6)
    # an x flow of 2W / (W - 1) samples the right neighbour
    flow = torch.zeros(2, 2, 5, 7)
    flow[:, 0] = 2 * 7 / 6
    shifted = flow_warp(x, flow)
    assert torch.allclose(shifted[..., :-1], x[..., 1:], atol=1e-5)


def test_flow_dual_alignment_gives_both_aligned_differences():
    fdaf = FlowDualAlignment(4)
    with torch.no_grad():
        fdaf.flow_conv[3].weight.zero_()  # no flow: plain differences
    a, b = torch.randn(1, 4, 6, 6), torch.randn(1, 4, 6, 6)
    out = fdaf(a, b)
    assert out.shape == (1, 8, 6, 6)
    assert torch.allclose(out, torch.cat([a - b, b - a], 1), atol=1e-5)


def test_changer_segmentor_shapes_and_date_dispatch():
    model = tiny_r18()
    model.eval()
    x = torch.randn(2, 6, 64, 96)
    with torch.no_grad():
        feats_a, feats_b = model.extract_date_feats(x)
        assert [f.shape[1] for f in feats_a] == [8, 16, 32, 64]
        fused = model.extract_feat(x)
        assert [f.shape[1] for f in fused] == [16, 32, 64, 128]
        logits = model._forward(x)
        assert logits.shape == (2, 2, 16, 24)
        # swapping the dates changes the logits (the exchanges are not
        # symmetric in the head: FDAF subtracts)
        swapped = model._forward(torch.cat([x[:, 3:], x[:, :3]], 1))
        assert not torch.allclose(swapped, logits)


@pytest.mark.slow
@pytest.mark.parametrize('name', ['r18', 'mit-b0'])
def test_fast_path_equals_eager(name, fast_backend):
    from mmcd.models.segmentors import FastChangeSegmentor
    torch.manual_seed(0)
    model = tiny_r18() if name == 'r18' else build(
        'mit-b0', **{'model.decode_head.channels': 16})
    model.eval()
    fast = FastChangeSegmentor(model, backend=fast_backend[0], strict=True)
    for shape in [(1, 6, 64, 64), (2, 6, 96, 128)]:  # not the export size
        x = torch.randn(*shape)
        with torch.no_grad():
            eager = ChangeLogits(model)(x)
        assert torch.allclose(fast._forward(x), eager, atol=1e-4)
    assert fast.runtime.startswith(fast_backend[1])


# -- end to end --------------------------------------------------------------
TINY_OPTIONS = [
    'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
    'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
    'train_dataloader.batch_size=2', 'model.backbone.stem_channels=8',
    'model.backbone.base_channels=8', 'model.neck.in_channels=[8,16,32,64]',
    'model.decode_head.in_channels=[8,16,32,64]',
    'model.decode_head.channels=16'
]


@pytest.mark.slow
def test_train_and_test_end_to_end(tmp_path):
    config = osp.join(REPO, 'configs', 'changer',
                      'changer-ex_r18_1xb8-40k_cdd-256x256.py')
    data_root = str(tmp_path / 'toy')
    write_synthetic_cdd(data_root, num_train=4, num_val=2, num_test=3,
                        size=64, seed=5)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    opts = TINY_OPTIONS + loader_options(data_root)
    work_dir = str(tmp_path / 'work')
    out = run_python([osp.join(REPO, 'tools', 'train.py'), config,
                      '--work-dir', work_dir, '--cfg-options'] + opts,
                     cwd=str(tmp_path), env=env)
    assert 'Iter(train) [2/2]' in out and 'decode.loss_ce' in out
    ckpt = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(ckpt)
    out = run_python([osp.join(REPO, 'tools', 'test.py'), config, ckpt,
                      '--work-dir', str(tmp_path / 'test'),
                      '--cfg-options'] + opts, cwd=str(tmp_path), env=env)
    assert 'metrics computed with OpenVINO' in out
    metrics = load(glob.glob(str(tmp_path / 'test' / '*' / '*.json'))[0])
    for key in ('Precision', 'Recall', 'F1', 'IoU', 'OA'):
        assert 0.0 <= metrics[key] <= 1.0
    assert -1.0 <= metrics['Kappa'] <= 1.0


@pytest.mark.parametrize('batch_first', [False, True])
def test_multihead_attention_for_export_equals_torch(batch_first):
    from mmcd.models.utils.export_attention import \
        MultiheadAttentionForExport
    torch.manual_seed(0)
    attn = torch.nn.MultiheadAttention(8, 2, batch_first=batch_first).eval()
    q, kv = torch.randn(6, 3, 8), torch.randn(4, 3, 8)  # (L, N, E)
    if batch_first:
        q, kv = q.transpose(0, 1), kv.transpose(0, 1)
    with torch.no_grad():
        expected = attn(q, kv, kv)[0]
        out, weights = MultiheadAttentionForExport(attn)(q, kv, kv)
    assert weights is None
    assert torch.allclose(out, expected, atol=1e-6)
