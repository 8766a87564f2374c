"""TemporalFusionNeck: per-level fusion policies."""
import pytest
import torch
from mmcv.cnn import ConvModule

import mmcd  # noqa: F401
from mmcd.models.utils import count_parameters
from mmcd.registry import MODELS

IN_CHANNELS = [8, 16, 32]
SIZES = [16, 8, 4]


def make_feats(seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, c, s, s, generator=g)
            for c, s in zip(IN_CHANNELS, SIZES)]


@pytest.mark.parametrize('policy, fn', [
    ('abs_diff', lambda a, b: (a - b).abs()),
    ('diff', lambda a, b: a - b),
    ('sum', lambda a, b: a + b),
])
def test_parameter_free_policies(policy, fn):
    neck = MODELS.build(
        dict(type='TemporalFusionNeck', in_channels=IN_CHANNELS,
             policy=policy))
    assert count_parameters(neck) == 0
    feats_a, feats_b = make_feats(0), make_feats(1)
    outs = neck(feats_a, feats_b)
    assert isinstance(outs, tuple) and len(outs) == 3
    for out, a, b in zip(outs, feats_a, feats_b):
        torch.testing.assert_close(out, fn(a, b))
    assert neck.out_channels == IN_CHANNELS


@pytest.mark.parametrize('out_channels, expected', [
    (None, IN_CHANNELS),
    (16, [16, 16, 16]),
    ([4, 8, 12], [4, 8, 12]),
])
def test_concat_policy(out_channels, expected):
    neck = MODELS.build(
        dict(type='TemporalFusionNeck', in_channels=IN_CHANNELS,
             policy='concat', out_channels=out_channels))
    outs = neck(make_feats(0), make_feats(1))
    assert [tuple(o.shape) for o in outs] == [
        (2, c, s, s) for c, s in zip(expected, SIZES)]
    for conv, c_in, c_out in zip(neck.fusion_convs, IN_CHANNELS, expected):
        assert isinstance(conv, ConvModule)
        assert conv.conv.kernel_size == (1, 1) and conv.conv.bias is None
        assert conv.with_norm and conv.with_activation
    # 1x1 conv without bias (norm follows) + BN weight and bias
    assert count_parameters(neck) == sum(
        2 * c_in * c_out + 2 * c_out
        for c_in, c_out in zip(IN_CHANNELS, expected))
    assert torch.all(outs[0] >= 0)  # ReLU


def test_single_level_and_errors():
    neck = MODELS.build(dict(type='TemporalFusionNeck', in_channels=8))
    a, b = torch.randn(1, 8, 4, 4), torch.randn(1, 8, 4, 4)
    (out, ) = neck([a], [b])
    torch.testing.assert_close(out, (a - b).abs())
    with pytest.raises(ValueError):
        MODELS.build(dict(type='TemporalFusionNeck', in_channels=8,
                          policy='max'))
    with pytest.raises(ValueError):
        MODELS.build(dict(type='TemporalFusionNeck', in_channels=8,
                          policy='diff', out_channels=4))
    with pytest.raises(ValueError):
        neck([a, a], [b, b])
