"""Changer's Flow Dual-Alignment Fusion (FDAF)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor


def flow_warp(x: Tensor, flow: Tensor) -> Tensor:
    """Sample ``x`` (N, C, H, W) bilinearly (zeros outside,
    ``align_corners=True``) at the normalised pixel grid displaced by
    ``flow`` (N, 2, H, W: x and y) divided by (W, H), Changer's
    ``FDAF.warp`` convention (an x flow of ``2W / (W - 1)`` is one pixel)."""
    n, _, h, w = x.size()
    rows = torch.linspace(-1.0, 1.0, h).view(-1, 1).repeat(1, w)
    cols = torch.linspace(-1.0, 1.0, w).repeat(h, 1)
    grid = torch.cat((cols.unsqueeze(2), rows.unsqueeze(2)), 2)
    grid = grid.repeat(n, 1, 1, 1).type_as(x)
    # offsets in pixels / (width, height), per channel so that the sizes
    # stay dynamic in an exported graph
    offset = torch.cat([flow[:, :1] / w, flow[:, 1:] / h], 1)
    grid = grid + offset.permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, align_corners=True)


class FlowDualAlignment(BaseModule):
    """Flow Dual-Alignment Fusion of two dates' features (Changer's FDAF).

    A flow network (depthwise ``kernel_size`` conv with bias, instance norm
    without affine parameters, GELU, 1x1 conv without bias to 4 channels)
    on ``concat(a, b)`` predicts one flow per date; each date is warped
    towards the other (:func:`flow_warp`) and the other subtracted:
    ``concat(warp(a, flow_a) - b, warp(b, flow_b) - a)``.

    Args:
        in_channels (int): Channels of each date's features.
        kernel_size (int): Kernel of the depthwise conv. Default: 5.
        init_cfg (dict, optional): Initialisation config. Default: None
            (PyTorch's defaults, as the original).
    """

    def __init__(self, in_channels: int, kernel_size: int = 5, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        channels = 2 * in_channels
        self.flow_conv = nn.Sequential(
            nn.Conv2d(
                channels,
                channels,
                kernel_size,
                padding=(kernel_size - 1) // 2,
                groups=channels),
            nn.InstanceNorm2d(channels),
            nn.GELU(),
            nn.Conv2d(channels, 4, 1, bias=False),
        )

    def forward(self, feat_a: Tensor, feat_b: Tensor) -> Tensor:
        """``(N, 2C, H, W)`` aligned differences of the two dates."""
        flow_a, flow_b = self.flow_conv(torch.cat([feat_a, feat_b],
                                                  1)).chunk(2, dim=1)
        return torch.cat([
            flow_warp(feat_a, flow_a) - feat_b,
            flow_warp(feat_b, flow_b) - feat_a
        ], 1)
