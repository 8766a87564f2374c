"""LSNet's denseFPN: SNUNet-style nested fusion of two dates."""
from functools import partial
from typing import Sequence, Tuple

from mmengine.model import BaseModule
from torch import Tensor

from mmcd.registry import MODELS
from ..utils import LSNET_INIT_CFG, neck_cg_block


@MODELS.register_module()
class DenseFPN(BaseModule):
    """LSNet's denseFPN neck (UNet++-style nested fusion).

    With per-date features ``A_i, B_i``, ``up`` bilinear upsampling to the
    finer level and ``cg`` single non-residual Context Guided Blocks with
    their level's dilation and reduction (``f = channels``):

    - ``x0_1 = cg(A0, B0, up(A1), up(B1)) -> f0``;
      ``x1_1 = cg(A1, B1, up(A2), up(B2)) -> f1``;
      ``x2_1 = cg(A2, B2, up(A3), up(B3)) -> f2``
    - ``x0_2 = cg(A0, B0, x0_1, up(x1_1)) -> f0``;
      ``x1_2 = cg(A1, B1, x1_1, up(x2_1)) -> f1``
    - ``x0_3 = cg(A0, B0, x0_1, x0_2, up(x1_2)) -> f0``

    Unlike SNUNet-CD, both dates' deeper features are upsampled, and the
    nesting stops at depth 3. Outputs ``(x0_1, x0_2, x0_3)``, ``f0`` (32)
    channels each, at level-0 resolution. The blocks run
    :meth:`ContextGuidedBlock.forward_concat`: the same values, without
    building the concatenations.

    Args:
        in_channels (Sequence[int]): Per-date channels of the four levels.
            Default: (35, 131, 256, 512) (:class:`LightSiamese`).
        channels (Sequence[int]): Widths ``f0, f1, f2`` of the nested
            nodes of levels 0, 1, 2. Default: (32, 64, 128).
        dilations (Sequence[int]): Surround dilation per level.
            Default: (1, 2, 4, 8).
        reductions (Sequence[int]): Global context reduction per level.
            Default: (4, 8, 16, 32).
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
                 channels: Sequence[int] = (32, 64, 128),
                 dilations: Sequence[int] = (1, 2, 4, 8),
                 reductions: Sequence[int] = (4, 8, 16, 32),
                 align_corners: bool = True,
                 norm_cfg: dict = dict(type='BN', eps=0.01,
                                       requires_grad=True),
                 act_cfg: dict = dict(type='PReLU'),
                 init_cfg=LSNET_INIT_CFG):
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) != 4 or len(channels) != 3:
            raise ValueError('DenseFPN needs 4 in_channels and 3 channels, '
                             f'got {in_channels} and {channels}')
        self.in_channels = tuple(in_channels)
        self.channels = tuple(channels)
        self.align_corners = align_corners
        c, f = in_channels, channels

        cg = partial(neck_cg_block, dilations=dilations,
                     reductions=reductions, norm_cfg=norm_cfg,
                     act_cfg=act_cfg)

        self.block0_1 = cg(2 * c[0] + 2 * c[1], f[0], 0)
        self.block1_1 = cg(2 * c[1] + 2 * c[2], f[1], 1)
        self.block2_1 = cg(2 * c[2] + 2 * c[3], f[2], 2)
        self.block0_2 = cg(2 * c[0] + f[0] + f[1], f[0], 0)
        self.block1_2 = cg(2 * c[1] + f[1] + f[2], f[1], 1)
        self.block0_3 = cg(2 * c[0] + 2 * f[0] + f[1], f[0], 0)
        self.out_channels = (f[0], f[0], f[0])

    def forward(self, feats_a: Sequence[Tensor],
                feats_b: Sequence[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
        """Change features from the two dates' four backbone levels."""
        if len(feats_a) != 4 or len(feats_b) != 4:
            raise ValueError('DenseFPN needs 4 levels of each date, got '
                             f'{len(feats_a)} and {len(feats_b)}')
        a0, a1, a2, a3 = feats_a
        b0, b1, b2, b3 = feats_b

        def cg(block, *parts):
            return block.forward_concat(parts, self.align_corners)

        x0_1 = cg(self.block0_1, a0, b0, a1, b1)
        x1_1 = cg(self.block1_1, a1, b1, a2, b2)
        x2_1 = cg(self.block2_1, a2, b2, a3, b3)
        x0_2 = cg(self.block0_2, a0, b0, x0_1, x1_1)
        x1_2 = cg(self.block1_2, a1, b1, x1_1, x2_1)
        x0_3 = cg(self.block0_3, a0, b0, x0_1, x0_2, x1_2)
        return x0_1, x0_2, x0_3
