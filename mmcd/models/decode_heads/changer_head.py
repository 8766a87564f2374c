"""Changer's decode head: per-date MLP fusion, flow dual-alignment, MixFFN."""
from typing import List

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.models.backbones.mit import MixFFN
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import nchw_to_nlc, nlc_to_nchw, resize
from torch import Tensor

from mmcd.registry import MODELS
from ..utils.flow_dual_alignment import FlowDualAlignment


@MODELS.register_module()
class ChangerHead(BaseDecodeHead):
    """The decode head of Changer (Fang et al., TGRS 2023; open-cd's
    ``Changer`` head).

    Each input level holds both dates' features concatenated along the
    channels (date A first, e.g. from ``TemporalFusionNeck(policy='cat')``).
    Per date, as in SegFormer's head, every level gets a 1x1
    :class:`ConvModule` to ``channels`` (shared by the dates), is resized
    to the first level's size and the levels are fused by a 1x1
    ConvModule to ``channels // 2``. :class:`FlowDualAlignment` aligns the
    two dates and concatenates their differences (``channels``), mmseg's
    :class:`~mmseg.models.backbones.mit.MixFFN` (GELU, no dropout) projects
    them with a residual connection, and ``cls_seg`` (dropout, 1x1 conv)
    gives the logits at the first level's resolution.

    Args:
        interpolate_mode (str): Mode of the resizing of the levels.
            Default: 'bilinear'.
        **kwargs: :class:`BaseDecodeHead`'s arguments; ``in_channels`` and
            ``in_index`` are lists (per-date channels of each level), the
            input transform is ``'multiple_select'``.
    """

    def __init__(self, interpolate_mode: str = 'bilinear', **kwargs):
        super().__init__(input_transform='multiple_select', **kwargs)
        self.interpolate_mode = interpolate_mode
        num_inputs = len(self.in_channels)
        if num_inputs != len(self.in_index):
            raise ValueError(
                f'ChangerHead: in_channels {self.in_channels} and in_index '
                f'{self.in_index} must have one entry per level')
        self.convs = nn.ModuleList(
            ConvModule(
                c,
                self.channels,
                1,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg) for c in self.in_channels)
        self.fusion_conv = ConvModule(
            self.channels * num_inputs,
            self.channels // 2,
            1,
            norm_cfg=self.norm_cfg)
        self.flow_fusion = FlowDualAlignment(self.channels // 2)
        self.projection = MixFFN(
            embed_dims=self.channels,
            feedforward_channels=self.channels,
            act_cfg=dict(type='GELU'),
            ffn_drop=0.,
            dropout_layer=dict(type='DropPath', drop_prob=0.))

    def fuse_levels(self, feats: List[Tensor]) -> Tensor:
        """One date's levels fused at the first level's size."""
        outs = [
            resize(
                conv(x),
                size=feats[0].shape[2:],
                mode=self.interpolate_mode,
                align_corners=self.align_corners)
            for conv, x in zip(self.convs, feats)
        ]
        return self.fusion_conv(torch.cat(outs, dim=1))

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """Logits from the levels of both dates' concatenated features."""
        levels = [x.chunk(2, dim=1) for x in self._transform_inputs(inputs)]
        fused_a = self.fuse_levels([a for a, _ in levels])
        fused_b = self.fuse_levels([b for _, b in levels])
        out = self.flow_fusion(fused_a, fused_b)
        hw_shape = out.shape[2:]
        out = nlc_to_nchw(self.projection(nchw_to_nlc(out), hw_shape),
                          hw_shape)
        return self.cls_seg(out)
