"""Generic per-level fusion of two dates' features."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmcd.registry import MODELS


@MODELS.register_module()
class TemporalFusionNeck(BaseModule):
    """Fuse two dates' features level by level, for any mmseg backbone.

    Policies, per level ``i`` with features ``a_i, b_i``:

    - ``'abs_diff'``: ``|a_i - b_i|``;
    - ``'diff'``: ``a_i - b_i``;
    - ``'sum'``: ``a_i + b_i``;
    - ``'concat'``: ``concat(a_i, b_i)`` followed by a 1x1
      :class:`ConvModule` (conv, norm, activation) to ``out_channels[i]``.

    All but ``'concat'`` are parameter-free and keep the channels.

    Args:
        in_channels (int | Sequence[int]): Per-date channels of each level
            (an int applies to a single level).
        policy (str): One of ``'abs_diff'``, ``'diff'``, ``'sum'``,
            ``'concat'``. Default: ``'abs_diff'``.
        out_channels (int | Sequence[int], optional): Output channels of the
            ``'concat'`` projections (an int applies to every level).
            Default: None, meaning ``in_channels``. Must be None (or equal to
            ``in_channels``) for the other policies.
        conv_cfg (dict, optional): Conv layers of ``'concat'``. Default: None.
        norm_cfg (dict): Norm layers of ``'concat'``.
            Default: ``dict(type='BN', requires_grad=True)``.
        act_cfg (dict): Activations of ``'concat'``.
            Default: ``dict(type='ReLU')``.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Default: None (ConvModule's own initialisation).
    """

    POLICIES = ('abs_diff', 'diff', 'sum', 'concat')

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 policy: str = 'abs_diff',
                 out_channels: Optional[Union[int, Sequence[int]]] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if policy not in self.POLICIES:
            raise ValueError(
                f'policy must be one of {self.POLICIES}, got {policy!r}')
        if isinstance(in_channels, int):
            in_channels = [in_channels]
        in_channels = list(in_channels)
        if out_channels is None:
            out_channels = list(in_channels)
        elif isinstance(out_channels, int):
            out_channels = [out_channels] * len(in_channels)
        out_channels = list(out_channels)
        if len(out_channels) != len(in_channels):
            raise ValueError(
                f'out_channels {out_channels} and in_channels {in_channels} '
                'must have one entry per level')
        if policy != 'concat' and out_channels != in_channels:
            raise ValueError(
                f'policy {policy!r} keeps the channels; out_channels must be '
                'None or equal to in_channels')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.policy = policy
        if policy == 'concat':
            self.fusion_convs = nn.ModuleList(
                ConvModule(
                    2 * c_in,
                    c_out,
                    1,
                    conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg)
                for c_in, c_out in zip(in_channels, out_channels))

    def forward(self, feats_a: Sequence[Tensor],
                feats_b: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Return one fused feature per level."""
        if isinstance(feats_a, Tensor):
            feats_a, feats_b = [feats_a], [feats_b]
        if not len(feats_a) == len(feats_b) == len(self.in_channels):
            raise ValueError(
                f'expected {len(self.in_channels)} levels of each date, got '
                f'{len(feats_a)} and {len(feats_b)}')
        outs = []
        for i, (a, b) in enumerate(zip(feats_a, feats_b)):
            if self.policy == 'abs_diff':
                outs.append(torch.abs(a - b))
            elif self.policy == 'diff':
                outs.append(a - b)
            elif self.policy == 'sum':
                outs.append(a + b)
            else:
                outs.append(self.fusion_convs[i](torch.cat([a, b], 1)))
        return tuple(outs)
