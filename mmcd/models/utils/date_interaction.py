"""Interaction layers between the stages of a backbone that sees both dates."""
from typing import Optional, Sequence, Tuple

import torch.nn as nn
from torch import Tensor

from mmcd.registry import MODELS


class StageInteractions(nn.Module):
    """One optional two-date interaction layer after each backbone stage.

    Each layer is called as ``layer(feat_a, feat_b)`` and returns the two
    dates' new features (e.g. :class:`ChannelExchange`,
    :class:`SpatialExchange`); a stage whose config is None passes both
    through. Layers are kept under their stage index (``'1'``, ``'2'``...),
    so parameter-free layers add no state-dict keys.

    Args:
        interaction_cfg (Sequence[dict | None]): One config (or None) per
            stage.
        num_stages (int): The backbone's number of stages.
    """

    def __init__(self, interaction_cfg: Sequence[Optional[dict]],
                 num_stages: int):
        super().__init__()
        if len(interaction_cfg) != num_stages:
            raise ValueError(
                f'interaction_cfg needs one entry (a config or None) per '
                f'stage: {num_stages} stages, got {len(interaction_cfg)}')
        self.layers = nn.ModuleDict({
            str(i): MODELS.build(cfg)
            for i, cfg in enumerate(interaction_cfg) if cfg is not None
        })

    def forward(self, stage: int, feat_a: Tensor,
                feat_b: Tensor) -> Tuple[Tensor, Tensor]:
        """Both dates' features after stage ``stage``'s interaction."""
        layer = self.layers[str(stage)] if str(stage) in self.layers else None
        return (feat_a, feat_b) if layer is None else layer(feat_a, feat_b)
