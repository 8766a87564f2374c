"""BIT's prediction head (Chen et al., TGRS 2021)."""
from typing import Sequence

import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from torch import Tensor

from mmcd.registry import MODELS

#: BIT's initialisation: conv weights N(0, 0.02), BatchNorm weights
#: N(1, 0.02), biases 0.
BIT_INIT_CFG = [
    dict(type='Normal', std=0.02, layer=['Conv2d', 'Linear']),
    dict(type='Normal', mean=1.0, std=0.02, layer='_BatchNorm'),
]


@MODELS.register_module()
class BITHead(BaseDecodeHead):
    """BIT's shallow classifier on the change feature.

    Bilinear upsampling by ``upsample_scale`` (align_corners as
    ``align_corners``), then a 3x3 conv + norm + ReLU (``channels`` wide,
    no bias) and a 3x3 classifier conv (``conv_seg``, with bias).

    Args:
        upsample_scale (int): Upsampling factor before the convs.
            Default: 4 (the neck's 1/4 resolution to the input's).
        dropout_ratio (float): Dropout before ``conv_seg``. Default: 0
            (BIT has none).
        norm_cfg (dict): Norm layer. Default: ``dict(type='BN')``.
        init_cfg (dict | list[dict]): Initialisation config.
            Default: :data:`BIT_INIT_CFG`.
        **kwargs: The remaining :class:`BaseDecodeHead` arguments
            (``in_channels``, ``channels``, ``num_classes``,
            ``loss_decode``...).
    """

    def __init__(self,
                 upsample_scale: int = 4,
                 dropout_ratio: float = 0.,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=BIT_INIT_CFG,
                 **kwargs):
        super().__init__(
            dropout_ratio=dropout_ratio,
            norm_cfg=norm_cfg,
            init_cfg=init_cfg,
            **kwargs)
        self.upsample_scale = upsample_scale
        # plain layers, not a ConvModule: its own init_weights would
        # override BIT's initialisation
        self.conv = nn.Conv2d(
            self.in_channels, self.channels, 3, padding=1, bias=False)
        self.norm = build_norm_layer(self.norm_cfg, self.channels)[1]
        self.act = build_activation_layer(self.act_cfg)
        self.conv_seg = nn.Conv2d(
            self.channels, self.out_channels, 3, padding=1)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        x = self._transform_inputs(inputs)
        x = resize(
            x,
            scale_factor=self.upsample_scale,
            mode='bilinear',
            align_corners=self.align_corners)
        return self.cls_seg(self.act(self.norm(self.conv(x))))
