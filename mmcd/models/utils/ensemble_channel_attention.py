"""SNUNet-CD's Ensemble Channel Attention Module (ECAM)."""
from typing import Sequence

import torch
from mmengine.model import BaseModule
from torch import Tensor

from .channel_attention import ChannelAttention


class EnsembleChannelAttention(BaseModule):
    """Ensemble Channel Attention Module of SNUNet-CD.

    For ``n`` same-shaped maps ``x_1..x_n`` of ``C`` channels each:
    ``out = concat(x_1..x_n)`` (``nC`` channels), ``intra = sum(x_i)``
    (``C`` channels) and the result is
    ``CA_out(out) * (out + repeat_n(CA_intra(intra)))``, where ``CA`` are
    :class:`ChannelAttention` weights.

    Args:
        channels (int): Channels of each input map.
        num_inputs (int): Number of input maps ``n``. Default: 4.
        ratio (int): Reduction ratio of the attention on the concatenation.
            Default: 16.
        intra_ratio (int): Reduction ratio of the attention on the sum.
            Default: 4 (SNUNet-CD's ``16 // 4``).
        init_cfg (dict | list[dict], optional): Initialisation config.
            Default: None.
    """

    def __init__(self,
                 channels: int,
                 num_inputs: int = 4,
                 ratio: int = 16,
                 intra_ratio: int = 4,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.channels = channels
        self.num_inputs = num_inputs
        self.out_channels = channels * num_inputs
        self.attention = ChannelAttention(self.out_channels, ratio)
        self.intra_attention = ChannelAttention(channels, intra_ratio)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Fuse ``num_inputs`` maps into one of ``num_inputs * C`` channels."""
        if len(inputs) != self.num_inputs:
            raise ValueError(
                f'expected {self.num_inputs} inputs, got {len(inputs)}')
        out = torch.cat(list(inputs), dim=1)
        intra = torch.stack(list(inputs), dim=0).sum(dim=0)
        intra_weights = self.intra_attention(intra).repeat(
            1, self.num_inputs, 1, 1)
        return self.attention(out) * (out + intra_weights)
