"""Bilateral guided aggregation (BiSeNetV2) as a change-detection head."""
import math
from typing import Sequence

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.models.backbones.bisenetv2 import BGALayer
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from torch import Tensor

from mmcd.registry import MODELS


@MODELS.register_module()
class BGAHead(BaseDecodeHead):
    """Aggregate fused detail and semantic features with BiSeNetV2's BGA.

    Takes two neck outputs (``input_transform='multiple_select'``): a detail
    feature and a semantic-context feature at 1/4 of its resolution (for
    BiSeNetV2 branches: detail 1/8 and context embedding 1/32; for
    ``LightSiamese``: e.g. level 1 at 1/2 and level 3 at 1/8). An input
    whose channels differ from ``bga_channels`` is first projected by a 1x1
    conv-norm-act. mmseg's :class:`BGALayer` aggregates the two at the
    detail resolution, then, as BiSeNetV2's segment head, one 3x3
    conv-norm-act to ``channels`` and BaseDecodeHead's ``conv_seg``
    classify. Losses and ``predict_by_feat`` are BaseDecodeHead's own.

    Args:
        in_channels (Sequence[int]): Channels of the detail and the semantic
            input, in this order.
        channels (int): Channels of the segment conv after the BGA layer.
        in_index (Sequence[int]): Neck outputs used as detail and semantic
            input, in this order.
        bga_channels (int): Channels of the BGA layer. Default: 128.
        norm_cfg (dict): Norm layers of the projections, the BGA layer and
            the segment conv. Default: ``dict(type='BN', requires_grad=True)``.
        **kwargs: Other :class:`BaseDecodeHead` arguments (``num_classes``,
            ``loss_decode``, ``dropout_ratio``, ``act_cfg``,
            ``align_corners`` (also used by the BGA layer), ...).
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 channels: int,
                 in_index: Sequence[int],
                 bga_channels: int = 128,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 **kwargs):
        if (not isinstance(in_channels, (list, tuple))
                or not isinstance(in_index, (list, tuple))
                or not len(in_channels) == len(in_index) == 2):
            raise ValueError(
                'BGAHead takes two inputs, detail then semantic: in_channels '
                'and in_index must be two-element lists, got in_channels='
                f'{in_channels!r}, in_index={in_index!r}')
        super().__init__(
            in_channels=list(in_channels),
            channels=channels,
            in_index=list(in_index),
            input_transform='multiple_select',
            norm_cfg=norm_cfg,
            **kwargs)
        self.bga_channels = bga_channels
        self.input_projections = nn.ModuleList(
            nn.Identity() if c == bga_channels else ConvModule(
                c,
                bga_channels,
                1,
                conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg) for c in self.in_channels)
        self.bga = BGALayer(
            bga_channels,
            align_corners=self.align_corners,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        self.segment_conv = ConvModule(
            bga_channels,
            channels,
            3,
            padding=1,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def _check_sizes(self, detail: Tensor, semantic: Tensor):
        # BGALayer multiplies the detail feature, downsampled by a stride-2
        # conv and a stride-2 average pool, with the semantic feature
        h, w = detail.shape[2:]
        expected = tuple(math.ceil(math.ceil(s / 2) / 2) for s in (h, w))
        if tuple(semantic.shape[2:]) != expected:
            raise ValueError(
                f'BGAHead: the semantic input (in_index {self.in_index[1]}) '
                'must have 1/4 of the size of the detail input (in_index '
                f'{self.in_index[0]}): detail {h}x{w} needs semantic '
                f'{expected[0]}x{expected[1]}, got '
                f'{semantic.shape[2]}x{semantic.shape[3]}. Pick the two '
                'levels 4x apart and pad images to a multiple of the '
                'backbone stride (e.g. size_divisor=32 for BiSeNetV2).')

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Change logits at the detail resolution."""
        detail, semantic = self._transform_inputs(inputs)
        for i, x in enumerate((detail, semantic)):
            if x.size(1) != self.in_channels[i]:
                raise ValueError(
                    f'BGAHead: the {("detail", "semantic")[i]} input '
                    f'(in_index {self.in_index[i]}) has {x.size(1)} '
                    f'channels, in_channels says {self.in_channels[i]}')
        detail = self.input_projections[0](detail)
        semantic = self.input_projections[1](semantic)
        self._check_sizes(detail, semantic)
        return self.cls_seg(self.segment_conv(self.bga(detail, semantic)))
