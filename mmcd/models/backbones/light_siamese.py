"""LSNet's light Siamese backbone (one date at a time)."""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from mmcd.registry import MODELS
from ..utils import LSNET_INIT_CFG, ContextGuidedBlock
from ..utils.context_guided_block import build_prelu_layer


@MODELS.register_module()
class LightSiamese(BaseModule):
    """LSNet's light Siamese backbone, a CGNet-like stack of
    :class:`ContextGuidedBlock`.

    The module sees one date: :class:`SiameseEncoderDecoder` runs it once on
    the ``2B`` batch of both dates (so BatchNorm statistics are shared across
    dates, as in LSNet) and splits every level back.

    Stages (defaults, per image of ``H x W``):

    0. ``num_blocks[0]`` blocks at full resolution (the first without
       residual), then concatenation with the raw input, BN + PReLU:
       ``filters[0] + in_channels`` (35) channels at stride 1.
    1. A downsampling block then residual blocks; concatenation of
       [last output, first block's output, the input average-pooled once
       (3x3, stride 2, padding 1)], BN + PReLU: ``2 * filters[1] +
       in_channels`` (131) channels at stride 2.
    2. and 3. A downsampling block then residual blocks; concatenation of
       [last output, first block's output], BN + PReLU: ``2 * filters[i]``
       (256, 512) channels at strides 4 and 8.

    Level ``i`` uses ``dilations[i]`` in the surround branch and
    ``reductions[i]`` in the global context of all its blocks.

    Args:
        in_channels (int): Channels of one date's image. Default: 3.
        filters (Sequence[int]): Block widths per stage.
            Default: (32, 64, 128, 256).
        num_blocks (Sequence[int]): Blocks per stage. Default: (3, 3, 8, 12).
        dilations (Sequence[int]): Surround dilation per stage.
            Default: (1, 2, 4, 8).
        reductions (Sequence[int]): Global context reduction per stage.
            Default: (4, 8, 16, 32).
        norm_cfg (dict): Normalisation layers. Default: ``dict(type='BN',
            eps=0.01, requires_grad=True)`` (LSNet's BatchNorm eps).
        act_cfg (dict): Activation layers. Default: ``dict(type='PReLU')``.
        init_cfg (dict | list[dict]): Initialisation config. Default:
            :data:`LSNET_INIT_CFG`, LSNet's Kaiming normal (fan_out, relu)
            for every Conv2d and BatchNorm weight 1, bias 0 (mmengine's
            Kaiming init also zeroes the conv biases, which the original
            leaves at PyTorch's default).
    """

    def __init__(self,
                 in_channels: int = 3,
                 filters: Sequence[int] = (32, 64, 128, 256),
                 num_blocks: Sequence[int] = (3, 3, 8, 12),
                 dilations: Sequence[int] = (1, 2, 4, 8),
                 reductions: Sequence[int] = (4, 8, 16, 32),
                 norm_cfg: dict = dict(type='BN', eps=0.01,
                                       requires_grad=True),
                 act_cfg: dict = dict(type='PReLU'),
                 init_cfg=LSNET_INIT_CFG):
        super().__init__(init_cfg=init_cfg)
        for name, value in (('filters', filters), ('num_blocks', num_blocks),
                            ('dilations', dilations),
                            ('reductions', reductions)):
            if len(value) != 4:
                raise ValueError(f'{name} must have 4 entries, got {value}')
        if min(num_blocks) < 1:
            raise ValueError(f'every stage needs a block, got {num_blocks}')
        self.in_channels = in_channels
        self.filters = tuple(filters)
        self.num_blocks = tuple(num_blocks)
        self.dilations = tuple(dilations)
        self.reductions = tuple(reductions)

        self.input_pool = nn.AvgPool2d(3, stride=2, padding=1)
        self.stages = nn.ModuleList()
        self.stage_norms = nn.ModuleList()
        self.stage_acts = nn.ModuleList()
        out_channels = []
        stage_in = in_channels
        for i in range(4):
            blocks = nn.ModuleList()
            for j in range(num_blocks[i]):
                blocks.append(
                    ContextGuidedBlock(
                        stage_in if j == 0 else filters[i],
                        filters[i],
                        dilation=dilations[i],
                        reduction=reductions[i],
                        skip_connect=j != 0,
                        downsample=i > 0 and j == 0,
                        norm_cfg=norm_cfg,
                        act_cfg=act_cfg))
            self.stages.append(blocks)
            if i == 0:
                channels = filters[0] + in_channels
            elif i == 1:
                channels = 2 * filters[1] + in_channels
            else:
                channels = 2 * filters[i]
            self.stage_norms.append(build_norm_layer(norm_cfg, channels)[1])
            self.stage_acts.append(build_prelu_layer(act_cfg, channels))
            out_channels.append(channels)
            stage_in = channels
        self.out_channels = tuple(out_channels)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Return the four levels (strides 1, 2, 4, 8) of one date."""
        image = x
        outs = []
        for i, blocks in enumerate(self.stages):
            for j, block in enumerate(blocks):
                x = block(x)
                if j == 0:
                    first = x
            if i == 0:
                parts = [x, image]
            elif i == 1:
                parts = [x, first, self.input_pool(image)]
            else:
                parts = [x, first]
            x = self.stage_acts[i](self.stage_norms[i](torch.cat(parts, 1)))
            outs.append(x)
        return tuple(outs)
