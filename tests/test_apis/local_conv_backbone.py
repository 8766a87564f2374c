"""A test backbone with a known receptive field (imported by the tiny
model's config through ``custom_imports``)."""
import torch.nn as nn
from mmengine.model import BaseModule

from mmcd.registry import MODELS


@MODELS.register_module(name='TestLocalConvBackbone', force=True)
class LocalConvBackbone(BaseModule):
    """Two 3x3 convolutions: each output pixel sees a 5x5 neighbourhood
    (receptive-field radius 2), so tiles overlapping by 8+ pixels must
    reproduce the whole-image prediction exactly.

    Args:
        in_channels (int): Channels of one date. Defaults to 3.
        channels (int): Output channels. Defaults to 8.
    """

    def __init__(self, in_channels=3, channels=8):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU())

    def forward(self, x):
        return [self.layers(x)]
