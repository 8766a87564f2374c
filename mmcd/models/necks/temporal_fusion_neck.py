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
      :class:`ConvModule` (conv, norm, activation) to ``out_channels[i]``;
    - ``'cat'``: ``concat(a_i, b_i)`` alone (twice the channels);
    - ``'date_b'``: ``b_i`` unchanged (e.g. FC-Siam's bottleneck, which
      enters the decoder from date B's encoder pass only).

    All but ``'concat'`` are parameter-free; all but ``'concat'`` and
    ``'cat'`` keep the channels.

    Args:
        in_channels (int | Sequence[int]): Per-date channels of each level
            (an int applies to a single level).
        policy (str | Sequence[str]): One of ``'abs_diff'``, ``'diff'``,
            ``'sum'``, ``'concat'``, ``'cat'``, ``'date_b'`` for every
            level, or one per level. Default: ``'abs_diff'``.
        out_channels (int | Sequence[int], optional): Output channels of the
            ``'concat'`` projections (an int applies to every level).
            Default: None, meaning the channels the policy gives
            (``in_channels``, twice them for ``'cat'``). Must be None (or
            equal to those) for the levels of the other policies.
        conv_cfg (dict, optional): Conv layers of ``'concat'``. Default: None.
        norm_cfg (dict): Norm layers of ``'concat'``.
            Default: ``dict(type='BN', requires_grad=True)``.
        act_cfg (dict): Activations of ``'concat'``.
            Default: ``dict(type='ReLU')``.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Default: None (ConvModule's own initialisation).
    """

    POLICIES = ('abs_diff', 'diff', 'sum', 'concat', 'cat', 'date_b')

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 policy: Union[str, Sequence[str]] = 'abs_diff',
                 out_channels: Optional[Union[int, Sequence[int]]] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(in_channels, int):
            in_channels = [in_channels]
        in_channels = list(in_channels)
        policies = ([policy] * len(in_channels)
                    if isinstance(policy, str) else list(policy))
        for p in policies:
            if p not in self.POLICIES:
                raise ValueError(
                    f'policy must be one of {self.POLICIES}, got {p!r}')
        if len(policies) != len(in_channels):
            raise ValueError(
                f'policy {policy} and in_channels {in_channels} must have '
                'one entry per level')
        # what the parameter-free policies give
        natural = [2 * c if p == 'cat' else c
                   for p, c in zip(policies, in_channels)]
        if out_channels is None:
            out_channels = natural
        elif isinstance(out_channels, int):
            out_channels = [out_channels] * len(in_channels)
        out_channels = list(out_channels)
        if len(out_channels) != len(in_channels):
            raise ValueError(
                f'out_channels {out_channels} and in_channels {in_channels} '
                'must have one entry per level')
        for p, c_out, c in zip(policies, out_channels, natural):
            if p != 'concat' and c_out != c:
                raise ValueError(
                    f'policy {p!r} gives {c} channels; out_channels must be '
                    f'None or {c} at that level, got {c_out}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.policy = policy
        self.policies = policies
        if 'concat' in policies:
            self.fusion_convs = nn.ModuleList(
                ConvModule(
                    2 * c_in,
                    c_out,
                    1,
                    conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg) if p == 'concat' else nn.Identity()
                for p, c_in, c_out in zip(policies, in_channels,
                                          out_channels))

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
        for i, (policy, a, b) in enumerate(zip(self.policies, feats_a,
                                               feats_b)):
            if policy == 'abs_diff':
                outs.append(torch.abs(a - b))
            elif policy == 'diff':
                outs.append(a - b)
            elif policy == 'sum':
                outs.append(a + b)
            elif policy == 'cat':
                outs.append(torch.cat([a, b], 1))
            elif policy == 'date_b':
                outs.append(b)
            else:
                outs.append(self.fusion_convs[i](torch.cat([a, b], 1)))
        return tuple(outs)
