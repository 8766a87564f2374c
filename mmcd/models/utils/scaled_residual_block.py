"""Residual block with a down-scaled residual branch (ChangeFormer's
decoder)."""
import torch.nn as nn
from torch import Tensor


class ScaledResidualBlock(nn.Module):
    """``x + scale * conv2(relu(conv1(x)))``, two 3x3 convs with bias.

    ChangeFormer's ``ResidualBlock`` (after each 2x upsampling of its
    decoder), no normalisation.

    Args:
        channels (int): Input and output channels.
        scale (float): Factor of the residual branch. Default: 0.1.
    """

    def __init__(self, channels: int, scale: float = 0.1):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.relu = nn.ReLU()
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(self.relu(self.conv1(x))) * self.scale
