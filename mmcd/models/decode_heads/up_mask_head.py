"""TinyCD's decoder: mask-guided upsampling and a pixel-wise classifier."""
from typing import Sequence

import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from torch import Tensor

from mmcd.registry import MODELS
from ..utils.mixing_blocks import pixelwise_mlp


class UpMaskBlock(nn.Module):
    """TinyCD's ``UpMask``: bilinear upsampling to the mask's size, a
    product with the one-channel mask, then a depthwise 3x3 convolution,
    PReLU, InstanceNorm, a 1x1 convolution, PReLU, InstanceNorm
    (``conv.0`` .. ``conv.5``, as the original's ``_convolution``).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        align_corners (bool): Of the upsampling. Default: True (TinyCD's).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 align_corners: bool = True):
        super().__init__()
        self.align_corners = align_corners
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 3, padding=1,
                      groups=in_channels), nn.PReLU(),
            nn.InstanceNorm2d(in_channels),
            nn.Conv2d(in_channels, out_channels, 1), nn.PReLU(),
            nn.InstanceNorm2d(out_channels))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = F.interpolate(
            x,
            size=mask.shape[2:],
            mode='bilinear',
            align_corners=self.align_corners)
        return self.conv(x * mask)


@MODELS.register_module()
class UpMaskHead(BaseDecodeHead):
    """TinyCD's decoder and pixel-wise classifier.

    The inputs are :class:`MixingMaskAttentionNeck`'s: one-channel masks
    from fine to coarse, then the coarsest mixed features. Starting from
    those features, each :class:`UpMaskBlock` doubles the resolution (to the
    next finer mask's size) and multiplies by that mask; a pixel-wise MLP
    (1x1 convolutions, PReLU after each) brings the full-resolution features
    to ``channels``, and BaseDecodeHead's ``conv_seg`` gives the logits.
    TinyCD's sigmoid belongs to the loss and the prediction
    (``out_channels=1``, ``threshold``, ``CrossEntropyLoss(use_sigmoid=
    True)``). Losses and prediction are BaseDecodeHead's own.

    Args:
        in_channels (Sequence[int]): Channels of the neck outputs,
            e.g. ``[1, 1, 1, 56]``.
        channels (int): Input width of ``conv_seg``. Default: 8.
        up_channels (Sequence[int]): Output widths of the up blocks, one per
            mask, coarse to fine. Default: (64, 64, 32).
        mlp_channels (Sequence[int]): Hidden widths of the classifier MLP
            between ``up_channels[-1]`` and ``channels``. Default: (16, ).
        dropout_ratio (float): Dropout before ``conv_seg``. Default: 0
            (TinyCD has none).
        align_corners (bool): Of the upsampling. Default: True (TinyCD's).
        init_cfg (dict | list[dict], optional): Initialisation config.
            Default: None (PyTorch's defaults, ``conv_seg`` included, as
            TinyCD; BaseDecodeHead would draw ``conv_seg`` from
            Normal(0, 0.01)).
        **kwargs: Other :class:`BaseDecodeHead` arguments (``num_classes``,
            ``out_channels``, ``threshold``, ``loss_decode``, ...).
    """

    def __init__(self,
                 in_channels: Sequence[int] = (1, 1, 1, 56),
                 channels: int = 8,
                 up_channels: Sequence[int] = (64, 64, 32),
                 mlp_channels: Sequence[int] = (16, ),
                 in_index: Sequence[int] = None,
                 dropout_ratio: float = 0.,
                 align_corners: bool = True,
                 init_cfg=None,
                 **kwargs):
        in_channels = list(in_channels)
        if len(up_channels) != len(in_channels) - 1:
            raise ValueError(
                f'up_channels needs one entry per mask '
                f'({len(in_channels) - 1}); got {len(up_channels)}')
        if in_index is None:
            in_index = list(range(len(in_channels)))
        super().__init__(
            in_channels=in_channels,
            channels=channels,
            in_index=list(in_index),
            input_transform='multiple_select',
            dropout_ratio=dropout_ratio,
            align_corners=align_corners,
            init_cfg=init_cfg,
            **kwargs)
        widths = [in_channels[-1], *up_channels]
        self.up_blocks = nn.ModuleList(
            UpMaskBlock(c_in, c_out, align_corners)
            for c_in, c_out in zip(widths[:-1], widths[1:]))
        self.classifier = pixelwise_mlp(
            [up_channels[-1], *mlp_channels, channels])

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        *masks, x = self._transform_inputs(inputs)
        for block, mask in zip(self.up_blocks, reversed(masks)):
            x = block(x, mask)
        return self.cls_seg(self.classifier(x))
