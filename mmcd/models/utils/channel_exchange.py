"""Changer's channel exchange between two dates' features."""
from typing import Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor

from mmcd.registry import MODELS


@MODELS.register_module()
class ChannelExchange(BaseModule):
    """Swap every ``int(1 / p)``-th channel between the two dates.

    Channels ``0, k, 2k, ...`` (``k = int(1 / p)``) of date A's features are
    replaced by date B's and vice versa; the others stay. Parameter-free,
    deterministic, the same in training and evaluation (Changer's
    ``ChannelExchange``, Fang et al., TGRS 2023).

    Args:
        p (float): Fraction of the channels exchanged, in (0, 1]; the
            period is ``int(1 / p)``, as in open-cd. Default: 0.5.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0 < p <= 1:
            raise ValueError(f'ChannelExchange: p must be in (0, 1], got {p}')
        self.p = p
        self.period = int(1 / p)

    def forward(self, feat_a: Tensor, feat_b: Tensor) -> Tuple[Tensor, Tensor]:
        """The two dates' ``(N, C, H, W)`` features, channels exchanged."""
        channel = torch.arange(feat_a.size(1), device=feat_a.device)
        exchange = (channel % self.period == 0).view(1, -1, 1, 1)
        return (torch.where(exchange, feat_b, feat_a),
                torch.where(exchange, feat_a, feat_b))
