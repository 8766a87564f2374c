"""SNUNet-CD's nested dense decoder: fusion of two dates' encoder levels."""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmcd.registry import MODELS
from ..utils import LSNET_INIT_CFG, NestedConvBlock


@MODELS.register_module()
class NestedUNetDecoder(BaseModule):
    """SNUNet-CD's nested (UNet++) decoder over two dates.

    With per-date encoder levels ``A_i, B_i`` (``i < L``, widths ``f_i``),
    the deepest node ``x_{L,0} = block(maxpool(B_{L-1}))`` (width
    ``bottom_channels``) is computed from the **later date only**, and every
    node ``x_{i,j}`` (``j >= 1``, ``i + j <= L``) is a
    :class:`NestedConvBlock` to ``f_i`` channels of the concatenation

    ``[A_i, B_i, x_{i,1}, ..., x_{i,j-1}, up(x_{i+1,j-1})]``,

    where ``x_{i,0} = B_i`` and ``up`` is a learned 2x2 stride-2 transposed
    convolution per node (``up_{i,j}``, with bias, channels kept). Only the
    later date's deeper features are upsampled (LSNet's
    :class:`DenseFPN` upsamples both dates' and stops one level higher).
    The outputs are ``(x_{0,1}, ..., x_{0,L})``, ``f_0`` channels each at
    level-0 resolution. Inputs must be divisible by ``2**L``.

    Args:
        in_channels (Sequence[int]): Per-date channels of the ``L`` encoder
            levels. Default: (32, 64, 128, 256)
            (:class:`NestedUNetEncoder`, ``c = 32``).
        bottom_channels (int, optional): Width of ``x_{L,0}``.
            Default: None, meaning ``2 * in_channels[-1]``.
        norm_cfg (dict): Normalisation layers. Default: ``dict(type='BN')``.
        act_cfg (dict): Activation layers. Default: ``dict(type='ReLU')``.
        init_cfg (dict | list[dict]): Initialisation config. Default:
            :data:`LSNET_INIT_CFG` (Kaiming normal for Conv2d, as SNUNet-CD;
            the transposed convolutions keep PyTorch's default, as there).
    """

    def __init__(self,
                 in_channels: Sequence[int] = (32, 64, 128, 256),
                 bottom_channels: Optional[int] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg=LSNET_INIT_CFG):
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) < 1:
            raise ValueError('NestedUNetDecoder needs at least one level')
        self.in_channels = tuple(in_channels)
        self.num_levels = len(in_channels)
        if bottom_channels is None:
            bottom_channels = 2 * in_channels[-1]
        f = self.in_channels + (bottom_channels, )
        L = self.num_levels

        def block(cin, cout):
            return NestedConvBlock(cin, cout, cout, norm_cfg, act_cfg)

        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        setattr(self, f'block{L}_0', block(f[L - 1], f[L]))
        for j in range(1, L + 1):
            for i in range(L - j + 1):
                setattr(self, f'block{i}_{j}',
                        block((j + 1) * f[i] + f[i + 1], f[i]))
        for j in range(L):
            for i in range(1, L - j + 1):
                setattr(self, f'up{i}_{j}',
                        nn.ConvTranspose2d(f[i], f[i], 2, stride=2))
        self.out_channels = (f[0], ) * L

    def forward(self, feats_a: Sequence[Tensor],
                feats_b: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Change features ``(x_{0,1}, ..., x_{0,L})`` of the two dates."""
        L = self.num_levels
        if len(feats_a) != L or len(feats_b) != L:
            raise ValueError(f'NestedUNetDecoder needs {L} levels of each '
                             f'date, got {len(feats_a)} and {len(feats_b)}')
        bottom = getattr(self, f'block{L}_0')(self.pool(feats_b[-1]))
        nodes: Dict[Tuple[int, int], Tensor] = {(L, 0): bottom}
        nodes.update({(i, 0): b for i, b in enumerate(feats_b)})
        for j in range(1, L + 1):
            for i in range(L - j + 1):
                up = getattr(self, f'up{i + 1}_{j - 1}')
                inputs = [feats_a[i]] + [nodes[(i, k)] for k in range(j)]
                inputs.append(up(nodes[(i + 1, j - 1)]))
                nodes[(i, j)] = getattr(self, f'block{i}_{j}')(
                    torch.cat(inputs, dim=1))
        return tuple(nodes[(0, j)] for j in range(1, L + 1))
