"""TinyCD's inter-date mixing of every backbone level."""
from typing import Sequence, Tuple

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmcd.registry import MODELS
from ..utils.mixing_blocks import MixingBlock, MixingMaskAttentionBlock


@MODELS.register_module()
class MixingMaskAttentionNeck(BaseModule):
    """TinyCD's encoder-side fusion of the two dates.

    Every level but the last goes through a mix and attention mask block
    (MAMB: channel-interleaved grouped 3x3 mixing, PReLU, InstanceNorm, then
    a pixel-wise MLP to a one-channel mask); the last level through a
    mixing block only. With :class:`EfficientNet` (B4, 4 stages,
    ``with_input=True``, ``out_indices=(1, 2, 3)``) the levels are the raw
    images (3 channels, full size), 24 channels at 1/2, 32 at 1/4 and 56 at
    1/8, and the outputs are three masks (1, 1/2, 1/4) and the 56-channel
    mixed features at 1/8, as TinyCD's ``_encode``.

    Args:
        in_channels (Sequence[int]): Channels of one date per level.
            Default: (3, 24, 32, 56).
        mlp_channels (Sequence[Sequence[int]]): Hidden widths of each mask
            block's MLP, one entry per level but the last.
            Default: ((10, 5), (12, 6), (16, 8)) (TinyCD's).
        init_cfg (dict | list[dict], optional): Initialisation config.
            Default: None (PyTorch's defaults, as TinyCD).
    """

    def __init__(self,
                 in_channels: Sequence[int] = (3, 24, 32, 56),
                 mlp_channels: Sequence[Sequence[int]] = ((10, 5), (12, 6),
                                                          (16, 8)),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if len(mlp_channels) != len(in_channels) - 1:
            raise ValueError(
                f'mlp_channels needs one entry per level but the last '
                f'({len(in_channels) - 1}); got {len(mlp_channels)}')
        self.in_channels = tuple(in_channels)
        self.mask_blocks = nn.ModuleList(
            MixingMaskAttentionBlock(c, hidden)
            for c, hidden in zip(in_channels[:-1], mlp_channels))
        self.last_mixing = MixingBlock(in_channels[-1])

    def forward(self, feats_a: Sequence[Tensor],
                feats_b: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        if len(feats_a) != len(self.in_channels):
            raise ValueError(
                f'MixingMaskAttentionNeck expects {len(self.in_channels)} '
                f'levels per date, got {len(feats_a)}')
        masks = [
            block(a, b)
            for block, a, b in zip(self.mask_blocks, feats_a, feats_b)
        ]
        return (*masks, self.last_mixing(feats_a[-1], feats_b[-1]))
