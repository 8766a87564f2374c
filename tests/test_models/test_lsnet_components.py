"""LSNet components: shapes, parameter counts, initialisation.

Parameter counts use the convention of LSNet's published sizes (old thop,
PReLU slopes not counted); the three whole-model totals are the published
ones (weights/readme.txt of qaz670756/LSNet).
"""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import mmcd  # noqa: F401
from mmcd.models.backbones import LightSiamese
from mmcd.models.decode_heads import CAMHead
from mmcd.models.necks import DenseFPN, DiffFPN
from mmcd.models.utils import (ChannelAttention, ContextGuidedBlock,
                               CoordinateAttention, EnsembleChannelAttention,
                               count_parameters)
from mmcd.registry import MODELS

# (neck config, head in_channels, neck params (thop), neck params (all),
#  head params, published total)
VARIANTS = {
    'diffFPN': (dict(type='DiffFPN'), [32, 32, 64], 269_284, 270_916, 3_610,
                1_207_706),
    'thin_diffFPN': (dict(type='DiffFPN', thin=True), [32, 64], 230_396,
                     231_692, 2_714, 1_167_922),
    'denseFPN': (dict(type='DenseFPN'), [32, 32, 32], 159_168, 159_696,
                 2_714, 1_096_694),
}
BACKBONE_PARAMS = 934_812  # thop convention
BACKBONE_PARAMS_ALL = 942_322  # PReLU slopes included


def build_head(in_channels, **kwargs):
    return MODELS.build(
        dict(
            type='CAMHead',
            in_channels=in_channels,
            num_classes=2,
            loss_decode=dict(type='CrossEntropyLoss'),
            **kwargs))


@pytest.fixture(scope='module')
def backbone():
    torch.manual_seed(0)
    return MODELS.build(dict(type='LightSiamese'))


@pytest.fixture(scope='module')
def date_feats(backbone):
    torch.manual_seed(0)
    with torch.no_grad():
        feats = backbone(torch.randn(4, 3, 32, 32))
    return [f[:2] for f in feats], [f[2:] for f in feats]


# ---------------------------------------------------------------- blocks


@pytest.mark.parametrize('downsample, skip, in_ch, out_ch, size', [
    (False, False, 3, 32, 16),
    (False, True, 32, 32, 16),
    (True, True, 35, 64, 8),
])
def test_context_guided_block(downsample, skip, in_ch, out_ch, size):
    block = ContextGuidedBlock(
        in_ch, out_ch, dilation=2, reduction=4, skip_connect=skip,
        downsample=downsample)
    out = block(torch.randn(2, in_ch, 16, 16))
    assert out.shape == (2, out_ch, size, size)
    assert block.skip_connect == (skip and not downsample)
    ch = out_ch // 2
    assert block.conv_in.out_channels == ch  # out // 2 also downsampling
    assert block.conv_in.bias is not None
    assert block.conv_in.kernel_size == ((3, 3) if downsample else (1, 1))
    assert block.conv_local.bias is None and block.conv_surround.bias is None
    assert block.conv_surround.dilation == (2, 2)
    assert block.norm_in.eps == 0.01 and block.norm_joint.eps == 0.01
    assert isinstance(block.act_joint, nn.PReLU)
    assert block.act_joint.num_parameters == out_ch
    fc1, fc2 = block.global_context.fc[0], block.global_context.fc[2]
    assert isinstance(fc1, nn.Linear) and fc1.bias is not None
    assert (fc1.in_features, fc1.out_features) == (out_ch, out_ch // 4)
    assert fc2.out_features == out_ch


def test_context_guided_block_params():
    # conv 3x3 (35*32*9 + 32), BN 64, depthwise 2 * 32*9, BN 128,
    # SE 64*8 + 8 + 8*64 + 64; PReLU 32 + 64 slopes
    block = ContextGuidedBlock(35, 64, 2, 8, downsample=True)
    expected = 35 * 32 * 9 + 32 + 64 + 2 * 32 * 9 + 128 + 64 * 8 + 8 + \
        8 * 64 + 64
    assert count_parameters(block) == expected
    assert count_parameters(block, exclude=()) == expected + 32 + 64


def test_context_guided_block_residual_is_added():
    block = ContextGuidedBlock(8, 8, reduction=2, skip_connect=True).eval()
    x = torch.randn(1, 8, 4, 4)
    plain = ContextGuidedBlock(8, 8, reduction=2, skip_connect=False).eval()
    plain.load_state_dict(block.state_dict())
    torch.testing.assert_close(block(x), plain(x) + x)


def concatenate_then_run(block, parts, align_corners=True):
    """The original's graph of a neck block: resize the coarser parts to
    the first one's size, concatenate, run the block (what
    ``forward_concat`` computes without the concatenation)."""
    size = parts[0].shape[2:]
    return block(torch.cat([
        part if part.shape[2:] == size else F.interpolate(
            part, size=size, mode='bilinear', align_corners=align_corners)
        for part in parts
    ], 1))


@pytest.mark.parametrize('align_corners', [True, False])
def test_context_guided_block_forward_concat(align_corners):
    # the necks' path: per-part entry convolutions at each part's own
    # resolution, resized and summed, equal the block on the concatenation
    # of the parts resized first (float64, odd sizes, trained-like BN)
    torch.manual_seed(0)
    block = ContextGuidedBlock(5 + 3 + 4, 8, reduction=2,
                               skip_connect=False).double().eval()
    block.norm_in.running_mean.uniform_(-1, 1)
    block.norm_in.running_var.uniform_(0.5, 2)
    block.conv_in.bias.data.uniform_(-1, 1)
    parts = [torch.randn(2, 5, 13, 11, dtype=torch.float64),
             torch.randn(2, 3, 13, 11, dtype=torch.float64),
             torch.randn(2, 4, 7, 6, dtype=torch.float64)]
    torch.testing.assert_close(
        block.forward_concat(parts, align_corners),
        concatenate_then_run(block, parts, align_corners),
        rtol=1e-12, atol=1e-12)
    # the gradient reaches every part as through the concatenation
    block.train()
    leaves = [p.clone().requires_grad_() for p in parts]
    block.forward_concat(leaves, align_corners).square().sum().backward()
    ref = [p.clone().requires_grad_() for p in parts]
    concatenate_then_run(block, ref, align_corners).square().sum().backward()
    for got, want in zip(leaves, ref):
        torch.testing.assert_close(got.grad, want.grad, rtol=1e-10,
                                   atol=1e-10)
    with pytest.raises(ValueError, match=r'\[5, 3\] channels; the block '
                       'takes 12'):
        block.forward_concat(parts[:2])
    residual = ContextGuidedBlock(8, 8, reduction=2, skip_connect=True)
    with pytest.raises(ValueError, match='without downsampling and '
                       'residual'):
        residual.forward_concat([torch.randn(1, 8, 4, 4)])


def test_coordinate_attention():
    att = CoordinateAttention(128, groups=16)
    assert att.hidden_channels == 8
    assert att.norm.eps == 1e-5
    assert CoordinateAttention(96).hidden_channels == 8
    assert CoordinateAttention(512).hidden_channels == 32
    x = torch.randn(2, 128, 6, 10)
    assert att(x).shape == x.shape
    # 128*8+8 + BN 16 + 2 * (8*128+128)
    assert count_parameters(att) == 1032 + 16 + 2 * 1152


def test_coordinate_attention_is_the_same_channels_last():
    # channels-last inputs (LSNet's training format) take the strip means
    # over the (N, H, W, C) view of their memory: the same values and
    # gradients as the plain means (float64, trained-like BatchNorm)
    from mmcd.models.utils.coordinate_attention import strip_means
    torch.manual_seed(0)
    att = CoordinateAttention(16, groups=4).double().eval()
    att.norm.running_mean.uniform_(-1, 1)
    att.norm.running_var.uniform_(0.5, 2)
    x = torch.randn(2, 16, 7, 9, dtype=torch.float64)
    last = x.clone().contiguous(memory_format=torch.channels_last)
    assert not last.is_contiguous()
    for tensor in (x, last):
        means = strip_means(tensor)
        torch.testing.assert_close(means[0], x.mean(3, keepdim=True),
                                   rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(means[1], x.mean(2, keepdim=True),
                                   rtol=1e-13, atol=1e-13)
    plain, cl = x.clone().requires_grad_(), last.clone().requires_grad_()
    out_plain, out_cl = att(plain), att(cl)
    torch.testing.assert_close(out_cl, out_plain, rtol=1e-12, atol=1e-12)
    out_plain.square().sum().backward()
    out_cl.square().sum().backward()
    torch.testing.assert_close(cl.grad, plain.grad, rtol=1e-10, atol=1e-10)


def test_coordinate_attention_is_a_product_of_two_strips():
    att = CoordinateAttention(16).eval()
    x = torch.rand(1, 16, 5, 7) + 0.1
    ratio = att(x) / x  # a_h * a_w: rank one per channel
    for c in range(16):
        assert torch.linalg.matrix_rank(ratio[0, c].double(), rtol=1e-6) == 1


def test_channel_attention_and_ecam():
    ca = ChannelAttention(32, ratio=4)
    assert ca(torch.randn(2, 32, 5, 5)).shape == (2, 32, 1, 1)
    assert count_parameters(ca) == 2 * 32 * 8  # no bias
    ecam = EnsembleChannelAttention(32, num_inputs=3)
    out = ecam([torch.randn(2, 32, 5, 5) for _ in range(3)])
    assert out.shape == (2, 96, 5, 5)
    assert count_parameters(ecam) == 2 * 96 * 6 + 2 * 32 * 8


# -------------------------------------------------------------- backbone


def test_light_siamese_shapes(backbone):
    assert backbone.out_channels == (35, 131, 256, 512)
    with torch.no_grad():
        feats = backbone(torch.randn(2, 3, 32, 32))
    assert isinstance(feats, tuple)
    assert [tuple(f.shape) for f in feats] == [(2, 35, 32, 32),
                                               (2, 131, 16, 16),
                                               (2, 256, 8, 8),
                                               (2, 512, 4, 4)]


def test_light_siamese_structure(backbone):
    assert [len(s) for s in backbone.stages] == [3, 3, 8, 12]
    stem = backbone.stages[0]
    assert not stem[0].skip_connect and stem[1].skip_connect
    for i, stage in enumerate(backbone.stages):
        assert stage[0].downsample == (i > 0)
        assert all(b.skip_connect for b in stage[1:])
        assert all(b.conv_surround.dilation[0] == (1, 2, 4, 8)[i]
                   for b in stage)
        assert all(b.global_context.reduction == (4, 8, 16, 32)[i]
                   for b in stage)
    assert all(m.eps == 0.01 for m in backbone.modules()
               if isinstance(m, nn.BatchNorm2d))


def test_light_siamese_params(backbone):
    assert count_parameters(backbone) == BACKBONE_PARAMS
    assert count_parameters(backbone, exclude=()) == BACKBONE_PARAMS_ALL
    n_prelu = sum(p.numel() for m in backbone.modules()
                  if isinstance(m, nn.PReLU) for p in m.parameters())
    assert BACKBONE_PARAMS_ALL - BACKBONE_PARAMS == n_prelu


def test_light_siamese_other_settings():
    bb = LightSiamese(in_channels=4, filters=(16, 32, 32, 64),
                      num_blocks=(1, 2, 2, 2), reductions=(4, 4, 4, 4))
    assert bb.out_channels == (20, 68, 64, 128)
    feats = bb(torch.randn(2, 4, 16, 16))
    assert [f.shape[1] for f in feats] == [20, 68, 64, 128]
    with pytest.raises(ValueError):
        LightSiamese(filters=(32, 64, 128))


# ------------------------------------------------------------ necks, head


@pytest.mark.parametrize('variant', list(VARIANTS))
def test_neck_and_head_shapes(variant, date_feats):
    neck_cfg, head_in, *_ = VARIANTS[variant]
    neck = MODELS.build(neck_cfg)
    head = build_head(head_in)
    with torch.no_grad():
        outs = neck(*date_feats)
        logits = head(outs)
    assert isinstance(outs, tuple)
    assert [tuple(o.shape) for o in outs] == [(2, c, 32, 32) for c in head_in]
    assert list(neck.out_channels) == head_in
    assert logits.shape == (2, 2, 32, 32)


@pytest.mark.parametrize('variant', list(VARIANTS))
def test_parameter_counts(variant, backbone):
    neck_cfg, head_in, neck_params, neck_all, head_params, total = \
        VARIANTS[variant]
    neck = MODELS.build(neck_cfg)
    head = build_head(head_in)
    assert count_parameters(neck) == neck_params
    assert count_parameters(neck, exclude=()) == neck_all
    assert count_parameters(head) == head_params
    assert count_parameters(head, exclude=()) == head_params  # no PReLU
    model = nn.ModuleDict(dict(backbone=backbone, neck=neck, head=head))
    assert count_parameters(model) == total


def test_diff_fpn_structure():
    neck = DiffFPN()
    assert [b.out_channels for b in neck.lateral_blocks] == [32, 64, 128, 256]
    assert [b.in_channels for b in neck.lateral_blocks] == [70, 262, 512,
                                                            1024]
    # top_down_blocks[i - 1]: level i -> i - 1, with level i's settings
    assert [(b.in_channels, b.out_channels, b.global_context.reduction)
            for b in neck.top_down_blocks] == [(64, 32, 8), (128, 64, 16),
                                               (256, 128, 32)]
    assert [(b.in_channels, b.out_channels)
            for b in neck.first_diff_blocks] == [(96, 32), (192, 64),
                                                 (384, 128)]
    assert (neck.last_diff_block.in_channels,
            neck.last_diff_block.out_channels) == (96, 64)
    thin = DiffFPN(thin=True)
    assert len(thin.first_diff_blocks) == 2 and not thin.second_diff_blocks
    assert thin.out_channels == (32, 64)


def test_dense_fpn_odd_sizes():
    neck = DenseFPN()
    sizes = [(33, 31), (17, 16), (9, 8), (5, 4)]
    feats = [torch.randn(1, c, h, w)
             for c, (h, w) in zip((35, 131, 256, 512), sizes)]
    outs = neck(feats, feats)
    assert all(o.shape == (1, 32, 33, 31) for o in outs)


def test_cam_head_options(date_feats):
    head = build_head([32, 32, 64])
    assert isinstance(head, CAMHead)
    assert head.channels == 128 and head.dropout is None
    assert isinstance(head.attention, CoordinateAttention)
    assert head.conv_seg.kernel_size == (1, 1)
    assert head.conv_seg.bias is not None
    dense_outs = DenseFPN()(*date_feats)
    ecam = build_head([32, 32, 32], attention='ecam')
    assert isinstance(ecam.attention, EnsembleChannelAttention)
    assert ecam(dense_outs).shape == (2, 2, 32, 32)
    assert build_head([32, 32, 32], attention=None)(dense_outs).shape == \
        (2, 2, 32, 32)
    sub = build_head([32, 32], in_index=[0, 2])
    assert sub.channels == 64 and sub(dense_outs).shape == (2, 2, 32, 32)
    with pytest.raises(ValueError):
        build_head([32, 32, 64], attention='ecam')
    with pytest.raises(ValueError):
        build_head([32, 32, 64], channels=64)


@pytest.mark.parametrize('attention', ['coord', None])
def test_cam_head_classifies_the_parts_as_their_concatenation(attention):
    # the head never builds the concatenation of the neck outputs; its
    # logits and gradients are those of attention + conv_seg on it
    # (float64, trained-like BatchNorm in the attention)
    torch.manual_seed(0)
    head = build_head([5, 3, 8], attention=attention,
                      attention_groups=2).double().eval()
    if attention:
        head.attention.norm.running_mean.uniform_(-1, 1)
        head.attention.norm.running_var.uniform_(0.5, 2)
    head.conv_seg.bias.data.uniform_(-1, 1)

    def on_the_concatenation(feats):
        x = torch.cat(feats, 1)
        return head.cls_seg(head.attention(x) if attention else x)

    feats = [torch.randn(2, c, 7, 9, dtype=torch.float64) for c in (5, 3, 8)]
    leaves = [f.clone().requires_grad_() for f in feats]
    got = head(leaves)
    want_leaves = [f.clone().requires_grad_() for f in feats]
    want = on_the_concatenation(want_leaves)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    got.square().sum().backward()
    want.square().sum().backward()
    for a, b in zip(leaves, want_leaves):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-10)
    # parts that do not make up conv_seg's input are refused, never
    # classified with part of its weight
    with pytest.raises(ValueError, match=r'\[5, 3\] channels; conv_seg '
                       'takes 16'):
        head.cls_seg_parts(feats[:2])
    with pytest.raises(ValueError, match='conv_seg takes parts of one size'):
        head.cls_seg_parts(feats[:2] + [feats[2][:, :, :4]])


def test_lsnet_initialisation():
    torch.manual_seed(0)
    model = nn.ModuleDict(
        dict(
            backbone=LightSiamese(num_blocks=(1, 1, 1, 1)),
            neck=DiffFPN(),
            head=build_head([32, 32, 64])))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight)
            nn.init.normal_(m.bias)
    for part in model.values():
        part.init_weights()
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and m.bias is not None:
            assert torch.all(m.bias == 0)  # mmengine's Kaiming zeroes biases
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
        if isinstance(m, nn.PReLU):
            assert torch.all(m.weight == 0.25)
        if isinstance(m, nn.Linear):  # PyTorch default: bounded uniform
            assert m.weight.abs().max() <= 1 / m.in_features**0.5
    # Kaiming normal fan_out on conv_seg (1x1, 2 outputs): std sqrt(2 / 2),
    # not BaseDecodeHead's Normal(std=0.01)
    assert model['head'].conv_seg.weight.std() > 0.5
    conv = model['neck'].lateral_blocks[3].conv_in  # 1x1, 128 outputs
    assert abs(conv.weight.std().item() - (2 / 128)**0.5) < 0.02
