"""LSNet's Context Guided Block (a lighter variant of CGNet's block)."""
from typing import Sequence

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from mmseg.models.backbones.cgnet import GlobalContextExtractor
from torch import Tensor

from .concat_conv import conv1x1_of_concat


def build_prelu_layer(act_cfg: dict, num_channels: int) -> nn.Module:
    """Build an activation; a PReLU gets one slope per channel."""
    act_cfg = dict(act_cfg)
    if act_cfg.get('type') == 'PReLU':
        act_cfg.setdefault('num_parameters', num_channels)
    return build_activation_layer(act_cfg)


class ContextGuidedBlock(BaseModule):
    """Context Guided Block as used throughout LSNet.

    It differs from mmseg's CGNet block (``mmseg.models.backbones.cgnet``):

    - the working width is ``out_channels // 2`` also when downsampling, and
      there is no 1x1 bottleneck after downsampling, so the output has
      ``out_channels`` channels in both cases;
    - the entry convolution (1x1, or 3x3 stride 2 when downsampling) has a
      bias;
    - the global context extractor uses Linear layers with bias.

    Structure: entry conv -> BN -> PReLU; a depthwise 3x3 local branch and a
    depthwise 3x3 dilated surround branch (both without bias), concatenated,
    BN -> PReLU; squeeze-excitation global context; residual addition of the
    input when ``skip_connect`` and not ``downsample``.

    Args:
        in_channels (int): Number of input channels.
        out_channels (int): Number of output channels (even).
        dilation (int): Dilation of the surround branch. Default: 2.
        reduction (int): Reduction ratio of the global context extractor;
            needs ``reduction <= out_channels``. Default: 16.
        skip_connect (bool): Add the input to the output (ignored when
            downsampling). Default: True.
        downsample (bool): Halve the resolution with a 3x3 stride-2 entry
            convolution. Default: False.
        norm_cfg (dict): Normalisation layers. LSNet uses BatchNorm with
            eps 0.01 everywhere. Default: ``dict(type='BN', eps=0.01,
            requires_grad=True)``.
        act_cfg (dict): Activation layers; a PReLU gets one slope per
            channel. Default: ``dict(type='PReLU')``.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Default: None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 dilation: int = 2,
                 reduction: int = 16,
                 skip_connect: bool = True,
                 downsample: bool = False,
                 norm_cfg: dict = dict(type='BN', eps=0.01,
                                       requires_grad=True),
                 act_cfg: dict = dict(type='PReLU'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if out_channels % 2:
            raise ValueError(
                f'out_channels must be even, got {out_channels}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.downsample = downsample
        self.skip_connect = skip_connect and not downsample
        if self.skip_connect and in_channels != out_channels:
            raise ValueError(
                'a residual Context Guided Block needs in_channels == '
                f'out_channels, got {in_channels} and {out_channels}')

        channels = out_channels // 2
        if downsample:
            self.conv_in = nn.Conv2d(
                in_channels, channels, 3, stride=2, padding=1, bias=True)
        else:
            self.conv_in = nn.Conv2d(in_channels, channels, 1, bias=True)
        self.norm_in = build_norm_layer(norm_cfg, channels)[1]
        self.act_in = build_prelu_layer(act_cfg, channels)

        self.conv_local = nn.Conv2d(
            channels, channels, 3, padding=1, groups=channels, bias=False)
        self.conv_surround = nn.Conv2d(
            channels,
            channels,
            3,
            padding=dilation,
            dilation=dilation,
            groups=channels,
            bias=False)
        self.norm_joint = build_norm_layer(norm_cfg, 2 * channels)[1]
        self.act_joint = build_prelu_layer(act_cfg, 2 * channels)

        self.global_context = GlobalContextExtractor(out_channels, reduction)

    def forward(self, x: Tensor) -> Tensor:
        """Forward function."""
        out = self._context(self.conv_in(x))
        return x + out if self.skip_connect else out

    def forward_concat(self,
                       parts: Sequence[Tensor],
                       align_corners: bool = True) -> Tensor:
        """The forward of ``concat(parts)`` along channels, where parts
        smaller than ``parts[0]`` are first bilinearly resized to its size,
        without building the concatenation.

        The 1x1 entry convolution runs on each part with its slice of the
        weight, at the part's own resolution, and the results are resized
        and summed (:func:`conv1x1_of_concat`); the convolution and the
        resizing of the coarser parts run on fewer pixels or channels. Only
        for blocks with a 1x1 entry and no residual (the necks' blocks).

        Args:
            parts (Sequence[Tensor]): The parts of the block's input, in
                their order in the concatenation.
            align_corners (bool): Of the bilinear resizing. Default: True.
        """
        if self.downsample or self.skip_connect:
            raise ValueError('forward_concat needs a block without '
                             'downsampling and residual')
        entry = conv1x1_of_concat(parts, self.conv_in.weight,
                                  self.conv_in.bias, 'the block', True,
                                  align_corners)
        return self._context(entry)

    def _context(self, entry: Tensor) -> Tensor:
        """Everything after the entry convolution but the residual."""
        out = self.act_in(self.norm_in(entry))
        joint = torch.cat([self.conv_local(out), self.conv_surround(out)], 1)
        joint = self.act_joint(self.norm_joint(joint))
        return self.global_context(joint)


def neck_cg_block(in_channels: int, out_channels: int, level: int,
                  dilations: Sequence[int], reductions: Sequence[int],
                  norm_cfg: dict, act_cfg: dict) -> ContextGuidedBlock:
    """The blocks of LSNet's necks (diffFPN, denseFPN): a single
    non-residual, non-downsampling Context Guided Block with the surround
    dilation and global-context reduction of pyramid ``level``."""
    return ContextGuidedBlock(
        in_channels,
        out_channels,
        dilation=dilations[level],
        reduction=reductions[level],
        skip_connect=False,
        downsample=False,
        norm_cfg=norm_cfg,
        act_cfg=act_cfg)
