"""EfficientNet's MBConv block in torchvision's module layout.

The sub-module names and indices are torchvision's (``block.{i}.{0,1}``,
``fc1``/``fc2``), so that torchvision's ImageNet EfficientNet weights load
into :class:`mmcd.models.backbones.EfficientNet` by a plain prefix.
"""
from typing import Optional

import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmcv.cnn.bricks.drop import DropPath
from mmseg.models.utils import make_divisible
from torch import Tensor


def conv_norm_act(in_channels: int,
                  out_channels: int,
                  kernel_size: int,
                  stride: int = 1,
                  groups: int = 1,
                  norm_cfg: dict = dict(type='BN'),
                  act_cfg: Optional[dict] = dict(type='SiLU')
                  ) -> nn.Sequential:
    """torchvision's ``Conv2dNormActivation``: a bias-free convolution with
    'same' padding (index 0), a norm layer (1) and, when ``act_cfg`` is
    given, an activation (2)."""
    layers = [
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding=(kernel_size - 1) // 2,
            groups=groups,
            bias=False),
        build_norm_layer(norm_cfg, out_channels)[1]
    ]
    if act_cfg is not None:
        layers.append(build_activation_layer(act_cfg))
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """torchvision's squeeze-and-excitation: global average pooling, a 1x1
    convolution to ``squeeze_channels`` (``fc1``), SiLU, a 1x1 convolution
    back (``fc2``) and a sigmoid gate on the input.

    (mmseg's ``SELayer`` rounds the squeezed width to a multiple of 8 and
    names its convolutions differently, so it cannot hold these weights.)

    Args:
        channels (int): Input and output channels.
        squeeze_channels (int): Channels of the squeezed descriptor.
        act_cfg (dict): Activation after ``fc1``. Default: SiLU.
    """

    def __init__(self,
                 channels: int,
                 squeeze_channels: int,
                 act_cfg: dict = dict(type='SiLU')):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.activation = build_activation_layer(act_cfg)
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return x * self.scale_activation(scale)


class MBConv(nn.Module):
    """EfficientNet's mobile inverted bottleneck with squeeze-excitation.

    ``block``: a 1x1 expansion to ``in_channels * expand_ratio`` rounded to
    a multiple of 8 (left out when that equals ``in_channels``), a
    depthwise ``kernel_size`` convolution with ``stride``, squeeze-excitation
    to ``max(1, in_channels // 4)`` channels and a 1x1 projection without
    activation. With stride 1 and equal widths the block is residual, its
    branch dropped per sample with probability ``drop_path_rate`` in
    training (torchvision's ``StochasticDepth(mode='row')``: identity in
    eval, kept samples scaled by ``1 / (1 - p)``; mmcv's ``DropPath`` does
    the same with its own random draws).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Depthwise kernel size.
        stride (int): Depthwise stride.
        expand_ratio (float): Expansion of the hidden width.
        drop_path_rate (float): Stochastic depth probability. Default: 0.
        norm_cfg (dict): Norm layers. Default: BN.
        act_cfg (dict): Activations. Default: SiLU.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int,
                 stride: int,
                 expand_ratio: float,
                 drop_path_rate: float = 0.,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='SiLU')):
        super().__init__()
        self.use_res_connect = stride == 1 and in_channels == out_channels
        hidden = make_divisible(in_channels * expand_ratio, 8)
        layers = []
        if hidden != in_channels:
            layers.append(
                conv_norm_act(
                    in_channels, hidden, 1, norm_cfg=norm_cfg,
                    act_cfg=act_cfg))
        layers += [
            conv_norm_act(
                hidden,
                hidden,
                kernel_size,
                stride,
                groups=hidden,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg),
            SqueezeExcitation(hidden, max(1, in_channels // 4), act_cfg),
            conv_norm_act(
                hidden, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None)
        ]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = DropPath(drop_path_rate)

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out = self.stochastic_depth(out) + x
        return out
