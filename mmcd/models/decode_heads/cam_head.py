"""LSNet's CAM head: attention over concatenated change features."""
from typing import Optional, Sequence

import torch
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from torch import Tensor

from mmcd.registry import MODELS
from ..utils import (LSNET_INIT_CFG, CoordinateAttention,
                     EnsembleChannelAttention)


@MODELS.register_module()
class CAMHead(BaseDecodeHead):
    """LSNet's CAM head.

    Concatenates the selected neck outputs (``input_transform=
    'multiple_select'``; they must share one resolution), applies an
    attention module, and classifies with BaseDecodeHead's ``conv_seg``
    (1x1 conv with bias). Losses, ``loss_by_feat`` and ``predict_by_feat``
    are BaseDecodeHead's own.

    Attention:

    - ``'coord'`` (LSNet): :class:`CoordinateAttention` on the
      concatenation (groups ``attention_groups``, hidden
      ``max(8, C // groups)``);
    - ``'ecam'`` (SNUNet-CD): :class:`EnsembleChannelAttention`; needs all
      selected inputs to have the same number of channels (e.g. DenseFPN);
    - ``None``: no attention.

    Args:
        in_channels (Sequence[int]): Channels of the selected neck outputs
            (one entry per ``in_index``).
        channels (int, optional): Must be ``sum(in_channels)`` (the
            concatenation is classified directly).
            Default: None, meaning that sum.
        in_index (Sequence[int], optional): Which neck outputs to use.
            Default: None, meaning the first ``len(in_channels)``.
        attention (str, optional): ``'coord'``, ``'ecam'`` or None.
            Default: ``'coord'``.
        attention_groups (int): Reduction of coordinate attention.
            Default: 16.
        ecam_ratios (tuple[int, int]): Reduction ratios of ECAM's attention
            on the concatenation and on the sum. Default: (16, 4).
        dropout_ratio (float): Dropout before ``conv_seg``. Default: 0
            (LSNet has none).
        init_cfg (dict | list[dict]): Initialisation config. Default:
            :data:`LSNET_INIT_CFG` (Kaiming normal fan_out/relu for every
            Conv2d, ``conv_seg`` included, which with mmengine also zeroes
            conv biases; BN weight 1, bias 0), instead of BaseDecodeHead's
            Normal(0.01) on ``conv_seg``.
        **kwargs: Other :class:`BaseDecodeHead` arguments (``num_classes``,
            ``loss_decode``, ``ignore_index``, ``align_corners``, ...).
    """

    ATTENTIONS = ('coord', 'ecam', None)

    def __init__(self,
                 in_channels: Sequence[int],
                 channels: Optional[int] = None,
                 in_index: Optional[Sequence[int]] = None,
                 attention: Optional[str] = 'coord',
                 attention_groups: int = 16,
                 ecam_ratios: Sequence[int] = (16, 4),
                 dropout_ratio: float = 0.,
                 input_transform: str = 'multiple_select',
                 init_cfg=LSNET_INIT_CFG,
                 **kwargs):
        if attention not in self.ATTENTIONS:
            raise ValueError(f'attention must be one of {self.ATTENTIONS}, '
                             f'got {attention!r}')
        if input_transform != 'multiple_select':
            raise ValueError('CAMHead concatenates several neck outputs; '
                             "input_transform must be 'multiple_select'")
        in_channels = list(in_channels)
        if in_index is None:
            in_index = list(range(len(in_channels)))
        in_index = list(in_index)
        total = sum(in_channels)
        if channels is None:
            channels = total
        elif channels != total:
            raise ValueError(
                f'channels ({channels}) must equal sum(in_channels) '
                f'({total})')
        super().__init__(
            in_channels,
            channels,
            in_index=in_index,
            input_transform=input_transform,
            dropout_ratio=dropout_ratio,
            init_cfg=init_cfg,
            **kwargs)
        self.attention_type = attention
        if attention == 'coord':
            self.attention = CoordinateAttention(
                channels, groups=attention_groups)
        elif attention == 'ecam':
            if len(set(in_channels)) != 1:
                raise ValueError(
                    "attention='ecam' needs equal in_channels, got "
                    f'{in_channels}')
            self.attention = EnsembleChannelAttention(
                in_channels[0],
                num_inputs=len(in_channels),
                ratio=ecam_ratios[0],
                intra_ratio=ecam_ratios[1])
        else:
            self.attention = None

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Logits at the resolution of the neck outputs."""
        feats = self._transform_inputs(inputs)
        if self.attention_type == 'ecam':
            x = self.attention(feats)
        else:
            x = torch.cat(list(feats), dim=1)
            if self.attention is not None:
                x = self.attention(x)
        return self.cls_seg(x)
