"""The U-Net encoder of FC-EF and FC-Siam (Daudt et al., ICIP 2018)."""
from collections import OrderedDict
from typing import Sequence, Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from mmcd.registry import MODELS


def conv_norm_relu_dropout(in_channels: int,
                           out_channels: int,
                           conv: type = nn.Conv2d,
                           norm_cfg: dict = dict(type='BN'),
                           dropout_ratio: float = 0.2) -> nn.Sequential:
    """3x3 conv (stride 1, padding 1, with bias), norm, ReLU, Dropout2d.

    The layer of the FC-EF / FC-Siam U-Nets (``conv``: ``nn.Conv2d`` in the
    encoder, ``nn.ConvTranspose2d`` in the decoder, as the original).
    PyTorch's default initialisation is kept, as in the original. A
    ``dropout_ratio`` of 0 leaves the dropout out.
    """
    layers = OrderedDict(
        conv=conv(in_channels, out_channels, kernel_size=3, padding=1),
        norm=build_norm_layer(norm_cfg, out_channels)[1],
        act=nn.ReLU())
    if dropout_ratio > 0:
        layers['dropout'] = nn.Dropout2d(dropout_ratio)
    return nn.Sequential(layers)


@MODELS.register_module()
class FCUNetEncoder(BaseModule):
    """The encoder of FC-EF, FC-Siam-conc and FC-Siam-diff.

    Stages of ``stage_convs[i]`` layers (3x3 conv, norm, ReLU, Dropout2d),
    ``stage_channels[i]`` wide, each followed by a 2x2 max-pool. Returns the
    features of every stage before its pool (the decoder's skips) and the
    pooled output of the last stage (where the decoder starts): with the
    defaults ``(16@1, 32@1/2, 64@1/4, 128@1/8, 128@1/16)``. Odd sizes are
    floored by the pools (the decoder pads back).

    FC-EF runs it on the 2C stack of both dates (``in_channels=6`` for two
    RGB images, in mmseg's ``EncoderDecoder``); FC-Siam runs it on each date
    (``in_channels=3``, in ``SiameseEncoderDecoder``).

    Args:
        in_channels (int): Input channels. Default: 3.
        stage_channels (Sequence[int]): Width of each stage.
            Default: (16, 32, 64, 128).
        stage_convs (Sequence[int]): Layers of each stage.
            Default: (2, 2, 3, 3).
        norm_cfg (dict): Norm layers. Default: ``dict(type='BN')``.
        dropout_ratio (float): Dropout2d after every layer (0 for none).
            Default: 0.2.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Default: None (PyTorch's default initialisation, as the
            original).
    """

    def __init__(self,
                 in_channels: int = 3,
                 stage_channels: Sequence[int] = (16, 32, 64, 128),
                 stage_convs: Sequence[int] = (2, 2, 3, 3),
                 norm_cfg: dict = dict(type='BN'),
                 dropout_ratio: float = 0.2,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if len(stage_channels) != len(stage_convs):
            raise ValueError(
                f'stage_channels {tuple(stage_channels)} and stage_convs '
                f'{tuple(stage_convs)} must have one entry per stage')
        self.in_channels = in_channels
        self.stages = nn.ModuleList()
        for channels, num_convs in zip(stage_channels, stage_convs):
            self.stages.append(nn.Sequential(*[
                conv_norm_relu_dropout(
                    in_channels if j == 0 else channels, channels,
                    norm_cfg=norm_cfg, dropout_ratio=dropout_ratio)
                for j in range(num_convs)
            ]))
            in_channels = channels

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Skip features of every stage, then the last stage pooled."""
        skips = []
        for stage in self.stages:
            x = stage(x)
            skips.append(x)
            x = F.max_pool2d(x, kernel_size=2, stride=2)
        return (*skips, x)
