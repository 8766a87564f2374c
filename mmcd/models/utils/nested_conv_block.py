"""The convolution block of SNUNet-CD's nested U-Net nodes."""
import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor


class NestedConvBlock(BaseModule):
    """Two 3x3 convolutions with a residual from the first conv's output.

    ``y = conv1(x)``; ``out = act(norm2(conv2(act(norm1(y)))) + y)``: the
    identity is taken *before* the first normalisation, as in SNUNet-CD's
    ``conv_block_nested``. Both convolutions have a bias and padding 1.

    Args:
        in_channels (int): Input channels.
        mid_channels (int): Channels of the first convolution.
        out_channels (int): Output channels; must equal ``mid_channels``
            (the residual adds the first convolution's output).
        norm_cfg (dict): Normalisation layers. Default: ``dict(type='BN')``.
        act_cfg (dict): Activation (shared by both positions, no
            parameters expected). Default: ``dict(type='ReLU')``.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Default: None.
    """

    def __init__(self,
                 in_channels: int,
                 mid_channels: int,
                 out_channels: int,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if mid_channels != out_channels:
            raise ValueError('NestedConvBlock adds the first conv output to '
                             'the second: mid_channels must equal '
                             f'out_channels, got {mid_channels} and '
                             f'{out_channels}')
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 3, padding=1)
        self.norm1 = build_norm_layer(norm_cfg, mid_channels)[1]
        self.conv2 = nn.Conv2d(mid_channels, out_channels, 3, padding=1)
        self.norm2 = build_norm_layer(norm_cfg, out_channels)[1]
        self.activate = build_activation_layer(act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block."""
        identity = self.conv1(x)
        x = self.activate(self.norm1(identity))
        x = self.norm2(self.conv2(x))
        return self.activate(x + identity)
