"""TinyCD's inter-date mixing blocks and pixel-wise MLP.

Plain ``nn.Conv2d`` / ``nn.PReLU`` / ``nn.InstanceNorm2d`` rather than mmcv's
``ConvModule``: ConvModule re-initialises its convolution (Kaiming, zero
bias) whenever ``init_weights`` runs, while TinyCD trains these layers from
PyTorch's default initialisation.
"""
from typing import Sequence

import torch
import torch.nn as nn
from torch import Tensor


def pixelwise_mlp(channels: Sequence[int],
                  last_activation: bool = True) -> nn.Sequential:
    """TinyCD's ``PixelwiseLinear``: 1x1 convolutions (with bias) from
    ``channels[i]`` to ``channels[i + 1]``, each followed by a PReLU (one
    slope), the last one only when ``last_activation``.

    Layer ``i`` is ``[i].0`` (conv) and ``[i].1`` (PReLU), as the original.
    """
    layers = []
    for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:])):
        layer = [nn.Conv2d(c_in, c_out, 1)]
        if last_activation or i < len(channels) - 2:
            layer.append(nn.PReLU())
        layers.append(nn.Sequential(*layer))
    return nn.Sequential(*layers)


class MixingBlock(nn.Module):
    """TinyCD's mixing block: the two dates' channels interleaved
    (``a0, b0, a1, b1, ...``), a 3x3 convolution with one group per channel
    pair (so each output mixes one channel of each date), PReLU, then
    InstanceNorm (no affine parameters).

    Args:
        channels (int): Channels of one date (= output channels).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(
            2 * channels, channels, 3, padding=1, groups=channels)
        self.act = nn.PReLU()
        self.norm = nn.InstanceNorm2d(channels)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        mixed = torch.stack((x, y), dim=2).flatten(1, 2)
        return self.norm(self.act(self.conv(mixed)))


class MixingMaskAttentionBlock(nn.Module):
    """TinyCD's mix and attention mask block (MAMB) as the official code
    uses it: a :class:`MixingBlock` followed by a pixel-wise MLP down to a
    one-channel attention mask (PReLU after every layer, the last included).

    Args:
        channels (int): Channels of one date.
        mlp_channels (Sequence[int]): Hidden widths of the pixel-wise MLP,
            e.g. ``(12, 6)`` for ``channels -> 12 -> 6 -> 1``.
    """

    def __init__(self, channels: int, mlp_channels: Sequence[int]):
        super().__init__()
        self.mixing = MixingBlock(channels)
        self.mlp = pixelwise_mlp([channels, *mlp_channels, 1])

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.mlp(self.mixing(x, y))
