"""LSNet's CAM head: attention over concatenated change features."""
from typing import Optional, Sequence

from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from torch import Tensor

from mmcd.registry import MODELS
from ..utils import (LSNET_INIT_CFG, CoordinateAttention,
                     EnsembleChannelAttention)
from ..utils.concat_conv import conv1x1_of_concat


@MODELS.register_module()
class CAMHead(BaseDecodeHead):
    """LSNet's CAM head.

    Classifies the concatenation of the selected neck outputs
    (``input_transform='multiple_select'``; they must share one resolution)
    after an attention module, with BaseDecodeHead's ``conv_seg`` (1x1 conv
    with bias). With ``'coord'`` or no attention the concatenation is never
    built: the attention pools each output, and ``conv_seg`` runs on each
    with its slice of the weight (:meth:`cls_seg_parts`; the same values up
    to rounding). Losses, ``loss_by_feat`` and ``predict_by_feat`` are
    BaseDecodeHead's own.

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
        feats = list(self._transform_inputs(inputs))
        if self.attention_type == 'ecam':
            return self.cls_seg(self.attention(feats))
        if self.attention_type == 'coord':
            attn_h, attn_w = self.attention.attention_maps(feats)
            sizes = [feat.shape[1] for feat in feats]
            feats = [
                feat * a_h * a_w for feat, a_h, a_w in zip(
                    feats, attn_h.split(sizes, 1), attn_w.split(sizes, 1))
            ]
        return self.cls_seg_parts(feats)

    def cls_seg_parts(self, parts: Sequence[Tensor]) -> Tensor:
        """``cls_seg(concat(parts))`` along channels, without building the
        concatenation: ``conv_seg`` runs on each part with its slice of the
        weight and the results are summed (the same up to rounding; the
        dropout, when there is one, drops channels of each part alike).

        Args:
            parts (Sequence[Tensor]): Same-size parts, in their order in the
                concatenation.
        """
        if self.dropout is not None:
            parts = [self.dropout(part) for part in parts]
        return conv1x1_of_concat(parts, self.conv_seg.weight,
                                 self.conv_seg.bias, 'conv_seg')
