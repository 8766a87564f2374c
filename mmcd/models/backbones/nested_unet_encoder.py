"""The encoder column of SNUNet-CD's nested U-Net (one date at a time)."""
from typing import Tuple

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmcd.registry import MODELS
from ..utils import LSNET_INIT_CFG, NestedConvBlock


@MODELS.register_module()
class NestedUNetEncoder(BaseModule):
    """Encoder of SNUNet-CD: the ``x_{i,0}`` nodes of a nested U-Net.

    Stage ``i`` is a 2x2 max pooling (except stage 0) followed by a
    :class:`NestedConvBlock` to ``base_channels * 2**i`` channels, so level
    ``i`` has stride ``2**i``. The module sees one date;
    :class:`SiameseEncoderDecoder` runs it on both (with
    ``joint_train_pass=False`` once per date, as SNUNet-CD does).

    SNUNet-CD's fifth encoder node (``x_{4,0}``) is computed for the later
    date only; it lives in :class:`NestedUNetDecoder`, so the default here
    is four stages.

    Args:
        in_channels (int): Channels of one date's image. Default: 3.
        base_channels (int): Width ``c`` of stage 0. Default: 32.
        num_stages (int): Number of stages (levels returned). Default: 4.
        norm_cfg (dict): Normalisation layers. Default: ``dict(type='BN')``.
        act_cfg (dict): Activation layers. Default: ``dict(type='ReLU')``.
        init_cfg (dict | list[dict]): Initialisation config. Default:
            :data:`LSNET_INIT_CFG` (SNUNet-CD initialises as LSNet does:
            Kaiming normal fan_out/relu for Conv2d, BatchNorm weight 1,
            bias 0; mmengine's Kaiming also zeroes conv biases).
    """

    def __init__(self,
                 in_channels: int = 3,
                 base_channels: int = 32,
                 num_stages: int = 4,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg=LSNET_INIT_CFG):
        super().__init__(init_cfg=init_cfg)
        if num_stages < 1:
            raise ValueError(f'num_stages must be >= 1, got {num_stages}')
        self.out_channels = tuple(base_channels * 2**i
                                  for i in range(num_stages))
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.stages = nn.ModuleList()
        for width in self.out_channels:
            self.stages.append(
                NestedConvBlock(in_channels, width, width, norm_cfg,
                                act_cfg))
            in_channels = width

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Levels ``x_{0,0} .. x_{num_stages-1,0}`` of one date."""
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(self.pool(x) if i else x)
            outs.append(x)
        return tuple(outs)
