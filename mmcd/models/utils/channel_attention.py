"""Channel attention of SNUNet-CD's ECAM (CBAM-style, weights only)."""
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor


class ChannelAttention(BaseModule):
    """Channel attention: ``sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))``.

    The MLP is shared by both poolings: two 1x1 convs without bias
    (``C -> C // ratio -> C``) with a ReLU between. The module returns the
    ``(N, C, 1, 1)`` weights, not the reweighted input (as SNUNet-CD's).

    Args:
        channels (int): Number of input channels.
        ratio (int): Reduction ratio of the hidden layer. Default: 16.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Default: None.
    """

    def __init__(self, channels: int, ratio: int = 16, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if not 1 <= ratio <= channels:
            raise ValueError(
                f'ratio must be in [1, channels={channels}], got {ratio}')
        self.channels = channels
        self.ratio = ratio
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.max_pool = nn.AdaptiveMaxPool2d(1)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, channels // ratio, 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // ratio, channels, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        """Return the ``(N, C, 1, 1)`` attention weights of ``x``."""
        return (self.mlp(self.avg_pool(x)) +
                self.mlp(self.max_pool(x))).sigmoid()
