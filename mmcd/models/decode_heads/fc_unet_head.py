"""The U-Net decoder of FC-EF and FC-Siam (Daudt et al., ICIP 2018)."""
from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from torch import Tensor

from mmcd.models.backbones.fc_unet_encoder import conv_norm_relu_dropout
from mmcd.registry import MODELS


@MODELS.register_module()
class FCUNetHead(BaseDecodeHead):
    """The decoder of FC-EF, FC-Siam-conc and FC-Siam-diff.

    Mirrors :class:`~mmcd.models.backbones.FCUNetEncoder`. From the deepest
    input (the last stage pooled), each decoder stage ``i``, deepest first:
    upsamples with a 3x3 transposed conv of stride 2 (``stage_channels[i]``
    wide), replicate-pads the result at the bottom/right to the skip's size
    (the odd sizes the encoder's pools floored), concatenates
    ``[upsampled, skip_i]`` and runs ``stage_convs[i]`` layers (3x3
    transposed conv of stride 1, norm, ReLU, Dropout2d), the last one down to
    ``stage_channels[i - 1]``. The last layer of the first stage is the
    classifier (``conv_seg``, a 3x3 transposed conv, as the original); the
    dropout before it is ``BaseDecodeHead``'s (``dropout_ratio``).

    The skips are whatever the neck gives: the encoder's own features
    (FC-EF), both dates' concatenated (FC-Siam-conc) or their absolute
    difference (FC-Siam-diff).

    Args:
        in_channels (Sequence[int]): Channels of the skips of each stage,
            then of the deepest input, e.g. ``(16, 32, 64, 128, 128)``.
        stage_channels (Sequence[int]): Width of each stage, as the encoder.
            Default: (16, 32, 64, 128).
        stage_convs (Sequence[int]): Layers of each stage, as the encoder
            (the classifier counts as the first stage's last).
            Default: (2, 2, 3, 3).
        dropout_ratio (float): Dropout2d after every layer but the
            classifier. Default: 0.2.
        norm_cfg (dict): Norm layers. Default: ``dict(type='BN')``.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Default: None (PyTorch's default initialisation, as the
            original).
        **kwargs: The remaining :class:`BaseDecodeHead` arguments
            (``num_classes``, ``loss_decode``, ``align_corners``...);
            ``channels`` is ``stage_channels[0]`` and ``input_transform``
            ``'multiple_select'`` over every input.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 stage_channels: Sequence[int] = (16, 32, 64, 128),
                 stage_convs: Sequence[int] = (2, 2, 3, 3),
                 dropout_ratio: float = 0.2,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=None,
                 **kwargs):
        num_stages = len(stage_channels)
        if len(in_channels) != num_stages + 1 or \
                len(stage_convs) != num_stages:
            raise ValueError(
                f'in_channels {tuple(in_channels)} needs one entry per stage '
                f'of stage_channels {tuple(stage_channels)} plus the deepest '
                f'input, and stage_convs {tuple(stage_convs)} one per stage')
        if min(stage_convs) < 2:
            raise ValueError(f'stage_convs {tuple(stage_convs)}: each stage '
                             'needs at least 2 layers')
        super().__init__(
            in_channels=list(in_channels),
            channels=stage_channels[0],
            in_index=list(range(num_stages + 1)),
            input_transform='multiple_select',
            dropout_ratio=dropout_ratio,
            norm_cfg=norm_cfg,
            init_cfg=init_cfg,
            **kwargs)
        self.up_convs = nn.ModuleList()
        self.stages = nn.ModuleList()
        for i in range(num_stages):
            width = stage_channels[i]
            up_in = in_channels[-1] if i == num_stages - 1 else width
            self.up_convs.append(
                nn.ConvTranspose2d(up_in, width, kernel_size=3, padding=1,
                                   stride=2, output_padding=1))
            outs = [width] * (stage_convs[i] - 1)
            if i > 0:  # the first stage ends with the classifier
                outs.append(stage_channels[i - 1])
            ins = [width + in_channels[i]] + outs[:-1]
            self.stages.append(nn.Sequential(*[
                conv_norm_relu_dropout(
                    c_in, c_out, conv=nn.ConvTranspose2d, norm_cfg=norm_cfg,
                    dropout_ratio=0 if (i == 0 and j == len(outs) - 1)
                    else dropout_ratio)
                for j, (c_in, c_out) in enumerate(zip(ins, outs))
            ]))
        self.conv_seg = nn.ConvTranspose2d(
            self.channels, self.out_channels, kernel_size=3, padding=1)

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """Class logits at the input resolution."""
        *skips, x = self._transform_inputs(inputs)
        for i in reversed(range(len(skips))):
            x = self.up_convs[i](x)
            skip = skips[i]
            x = F.pad(x, (0, skip.size(3) - x.size(3), 0,
                          skip.size(2) - x.size(2)), mode='replicate')
            x = self.stages[i](torch.cat([x, skip], 1))
        return self.cls_seg(x)
