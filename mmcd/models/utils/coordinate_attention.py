"""Coordinate attention (Hou et al., CVPR 2021), as in LSNet's CAM head."""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor


def strip_means(x: Tensor) -> Tuple[Tensor, Tensor]:
    """``(x.mean(3, keepdim=True), x.mean(2, keepdim=True))`` of an
    ``(N, C, H, W)`` tensor, reduced in its memory layout.

    On CPU, PyTorch's mean over one spatial axis of a channels-last tensor
    (LSNet's configs train channels-last) is many times slower than the same
    mean over the ``(N, H, W, C)`` view of its memory, forward and backward;
    such a tensor is reduced in that view. The values are the same up to
    rounding.

    Args:
        x (Tensor): An ``(N, C, H, W)`` tensor.
    """
    if (not x.is_contiguous()
            and x.is_contiguous(memory_format=torch.channels_last)):
        nhwc = x.permute(0, 2, 3, 1)
        return (nhwc.mean(2).permute(0, 2, 1).unsqueeze(3),
                nhwc.mean(1).permute(0, 2, 1).unsqueeze(2))
    return x.mean(3, keepdim=True), x.mean(2, keepdim=True)


class CoordinateAttention(BaseModule):
    """Coordinate attention.

    The input is average-pooled over its width to ``(H, 1)`` and over its
    height to ``(1, W)``; both strips are stacked along the spatial axis and
    go through a shared 1x1 conv (``C -> hidden``, with bias), BN and
    h-swish; they are split again, each goes through its own 1x1 conv
    (``hidden -> C``, with bias) and a sigmoid, and the output is
    ``x * a_h * a_w``.

    Args:
        channels (int): Number of input (and output) channels.
        groups (int): Channel reduction of the hidden layer:
            ``hidden = max(min_hidden_channels, channels // groups)``.
            Default: 16 (LSNet's CAM head).
        min_hidden_channels (int): Lower bound of the hidden width.
            Default: 8.
        norm_cfg (dict): Normalisation after the shared conv. Default:
            ``dict(type='BN', eps=1e-5, requires_grad=True)``.
        act_cfg (dict): Activation after it. Default:
            ``dict(type='HSwish')`` (``x * relu6(x + 3) / 6``).
        init_cfg (dict | list[dict], optional): Initialisation config.
            Default: None.
    """

    def __init__(self,
                 channels: int,
                 groups: int = 16,
                 min_hidden_channels: int = 8,
                 norm_cfg: dict = dict(type='BN', eps=1e-5,
                                       requires_grad=True),
                 act_cfg: dict = dict(type='HSwish'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.channels = channels
        self.hidden_channels = max(min_hidden_channels, channels // groups)
        self.conv_squeeze = nn.Conv2d(channels, self.hidden_channels, 1)
        self.norm = build_norm_layer(norm_cfg, self.hidden_channels)[1]
        self.act = build_activation_layer(act_cfg)
        self.conv_h = nn.Conv2d(self.hidden_channels, channels, 1)
        self.conv_w = nn.Conv2d(self.hidden_channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Forward function."""
        attn_h, attn_w = self.attention_maps([x])
        return x * attn_h * attn_w

    def attention_maps(self, parts: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        """The attention of ``concat(parts)`` along channels, without
        building the concatenation: ``(a_h, a_w)`` of shapes
        ``(N, C, H, 1)`` and ``(N, C, 1, W)``, so that the output is
        ``x * a_h * a_w``. Only the pooled strips are concatenated.

        Args:
            parts (Sequence[Tensor]): ``(N, C_i, H, W)`` tensors of one
                size, in their order in the concatenation.
        """
        h, w = parts[0].shape[-2:]
        strips = [strip_means(part) for part in parts]
        pooled_h = torch.cat([s[0] for s in strips], 1)  # (N, C, H, 1)
        pooled_w = torch.cat([s[1] for s in strips],
                             1).transpose(2, 3)  # (N, C, W, 1)
        y = torch.cat([pooled_h, pooled_w], dim=2)
        y = self.act(self.norm(self.conv_squeeze(y)))
        y_h, y_w = torch.split(y, [h, w], dim=2)
        attn_h = self.conv_h(y_h).sigmoid()  # (N, C, H, 1)
        attn_w = self.conv_w(y_w.transpose(2, 3)).sigmoid()  # (N, C, 1, W)
        return attn_h, attn_w
