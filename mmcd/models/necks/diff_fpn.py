"""LSNet's diffFPN change-feature neck (and its thin variant)."""
from functools import partial
from typing import Sequence, Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmcd.registry import MODELS
from ..utils import LSNET_INIT_CFG, neck_cg_block


def upsample_like(x: Tensor, target: Tensor,
                  align_corners: bool = True) -> Tensor:
    """Bilinearly resize ``x`` to ``target``'s spatial size.

    For the usual exact 2x steps this equals LSNet's
    ``nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True)``;
    it also copes with odd sizes.
    """
    return F.interpolate(
        x, size=target.shape[2:], mode='bilinear',
        align_corners=align_corners)


@MODELS.register_module()
class DiffFPN(BaseModule):
    """LSNet's diffFPN: fuses two dates' features into change features.

    Every fusion step is a single non-residual, non-downsampling
    :class:`ContextGuidedBlock` (``cg``) with the dilation and reduction of
    its level; ``up`` is bilinear (align_corners=True) upsampling to the
    finer level. With ``m = mid_channels``:

    1. lateral: ``t_i = cg(concat(A_i, B_i))``, ``2 * c_i -> m * 2**i``;
    2. top-down, i = 3, 2, 1: ``t_{i-1} += up(cg_i(t_i))`` with
       ``cg_i: m * 2**i -> m * 2**(i-1)`` (level i's dilation/reduction);
    3. ``u_i = cg(concat(t_i, up(t_{i+1})))``, ``3m * 2**i -> m * 2**i``,
       for i = 0, 1, 2;
    4. ``v_i = cg(concat(u_i, up(u_{i+1})))``, for i = 0, 1;
    5. ``w = cg(concat(v_0, up(v_1)))``, ``3m -> 2m`` (level-0 settings).

    Outputs (all at level-0 resolution): ``(u_0, v_0, w)`` with
    ``(m, m, 2m)`` = (32, 32, 64) channels.

    The blocks of steps 1, 3, 4 and 5 run
    :meth:`ContextGuidedBlock.forward_concat`: the same values, without
    building the concatenations.

    ``thin=True`` is LSNet's "thin diffFPN": the first row only makes
    ``u_0, u_1`` and the second row is a single block ``3m -> 2m`` (the
    original reuses the last-step block there):
    ``v = cg(concat(u_0, up(u_1)))``. Outputs ``(u_0, v)`` with
    ``(m, 2m)`` = (32, 64) channels.

    Args:
        in_channels (Sequence[int]): Per-date channels of the four levels.
            Default: (35, 131, 256, 512) (:class:`LightSiamese`).
        mid_channels (int): ``m``. Default: 32.
        dilations (Sequence[int]): Surround dilation per level.
            Default: (1, 2, 4, 8).
        reductions (Sequence[int]): Global context reduction per level.
            Default: (4, 8, 16, 32).
        thin (bool): Build the thin variant. Default: False.
        align_corners (bool): Of the bilinear upsampling. Default: True.
        norm_cfg (dict): Normalisation layers. Default: ``dict(type='BN',
            eps=0.01, requires_grad=True)``.
        act_cfg (dict): Activation layers. Default: ``dict(type='PReLU')``.
        init_cfg (dict | list[dict]): Initialisation config. Default:
            :data:`LSNET_INIT_CFG` (Kaiming normal fan_out/relu for Conv2d,
            which with mmengine also zeroes conv biases; BN weight 1, bias 0).
    """

    def __init__(self,
                 in_channels: Sequence[int] = (35, 131, 256, 512),
                 mid_channels: int = 32,
                 dilations: Sequence[int] = (1, 2, 4, 8),
                 reductions: Sequence[int] = (4, 8, 16, 32),
                 thin: bool = False,
                 align_corners: bool = True,
                 norm_cfg: dict = dict(type='BN', eps=0.01,
                                       requires_grad=True),
                 act_cfg: dict = dict(type='PReLU'),
                 init_cfg=LSNET_INIT_CFG):
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) != 4:
            raise ValueError(f'DiffFPN needs 4 levels, got {in_channels}')
        self.in_channels = tuple(in_channels)
        self.mid_channels = mid_channels
        self.thin = thin
        self.align_corners = align_corners
        m = mid_channels

        cg = partial(neck_cg_block, dilations=dilations,
                     reductions=reductions, norm_cfg=norm_cfg,
                     act_cfg=act_cfg)

        self.lateral_blocks = nn.ModuleList(
            cg(2 * c, m * 2**i, i) for i, c in enumerate(in_channels))
        # top_down_blocks[i - 1] maps level i to level i - 1
        self.top_down_blocks = nn.ModuleList(
            cg(m * 2**i, m * 2**(i - 1), i) for i in range(1, 4))
        num_first = 2 if thin else 3
        self.first_diff_blocks = nn.ModuleList(
            cg(3 * m * 2**i, m * 2**i, i) for i in range(num_first))
        self.second_diff_blocks = nn.ModuleList(
            [] if thin else [cg(3 * m * 2**i, m * 2**i, i) for i in range(2)])
        self.last_diff_block = cg(3 * m, 2 * m, 0)
        self.out_channels = (m, 2 * m) if thin else (m, m, 2 * m)

    def _up(self, x: Tensor, target: Tensor) -> Tensor:
        return upsample_like(x, target, self.align_corners)

    def _diff_row(self, blocks: nn.ModuleList,
                  feats: Sequence[Tensor]) -> list:
        return [
            block.forward_concat([feats[i], feats[i + 1]], self.align_corners)
            for i, block in enumerate(blocks)
        ]

    def forward(self, feats_a: Sequence[Tensor],
                feats_b: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Change features from the two dates' four backbone levels."""
        if len(feats_a) != 4 or len(feats_b) != 4:
            raise ValueError('DiffFPN needs 4 levels of each date, got '
                             f'{len(feats_a)} and {len(feats_b)}')
        t = [
            block.forward_concat([a, b], self.align_corners)
            for block, a, b in zip(self.lateral_blocks, feats_a, feats_b)
        ]
        for i in range(3, 0, -1):
            t[i - 1] = t[i - 1] + self._up(self.top_down_blocks[i - 1](t[i]),
                                           t[i - 1])
        u = self._diff_row(self.first_diff_blocks, t)
        if self.thin:
            return u[0], self._diff_row([self.last_diff_block], u)[0]
        v = self._diff_row(self.second_diff_blocks, u)
        w = self._diff_row([self.last_diff_block], v)[0]
        return u[0], v[0], w
