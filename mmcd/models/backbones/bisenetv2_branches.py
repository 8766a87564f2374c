"""BiSeNetV2's detail and semantic branches, without their aggregation."""
from typing import Sequence, Tuple, Union

from mmengine.model import BaseModule
from mmseg.models.backbones.bisenetv2 import DetailBranch, SemanticBranch
from torch import Tensor

from mmcd.registry import MODELS


@MODELS.register_module()
class BiSeNetV2Branches(BaseModule):
    """The two branches of BiSeNetV2, for a Siamese change detector.

    mmseg's :class:`~mmseg.models.backbones.BiSeNetV2` aggregates its
    branches with a BGA layer inside the backbone, so the two dates would be
    aggregated before they are compared. This backbone runs mmseg's own
    ``DetailBranch`` and ``SemanticBranch`` and returns their features
    unaggregated, so that a fusion neck (e.g. ``TemporalFusionNeck``) can
    compare the dates level by level and :class:`BGAHead` can aggregate the
    fused detail and semantic context afterwards.

    Outputs (default channels, for an ``H x W`` input):

    ====  ===========================================  ========  =======
    idx   feature                                      channels  stride
    ====  ===========================================  ========  =======
    0     detail branch                                128       8
    1     semantic stem                                16        4
    2     semantic stage 2 (gather-and-expansion)      32        8
    3     semantic stage 3                             64        16
    4     semantic stage 4                             128       32
    5     context embedding (CE block)                 128       32
    ====  ===========================================  ========  =======

    Indices 1-4 are those of mmseg's BiSeNetV2 (where its booster heads
    read); 0 is the detail feature instead of mmseg's BGA output.

    Args:
        in_channels (int): Channels of one date's image. Default: 3.
        detail_channels (Sequence[int]): Channels of the detail branch
            stages. Default: (64, 64, 128).
        semantic_channels (Sequence[int]): Channels of the semantic branch
            stages. Default: (16, 32, 64, 128).
        semantic_expansion_ratio (int): Expansion ratio of the
            gather-and-expansion layers. Default: 6.
        out_indices (Sequence[int]): Which of the outputs above to return.
            Default: (0, 1, 2, 3, 4, 5).
        init_cfg (dict | list[dict], optional): Initialisation config.
            Default: None, meaning mmseg BiSeNetV2's (Kaiming for Conv2d,
            constant 1 for norm layers).
    """

    def __init__(self,
                 in_channels: int = 3,
                 detail_channels: Sequence[int] = (64, 64, 128),
                 semantic_channels: Sequence[int] = (16, 32, 64, 128),
                 semantic_expansion_ratio: int = 6,
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3, 4, 5),
                 init_cfg=None):
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer='Conv2d'),
                dict(
                    type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
            ]
        super().__init__(init_cfg=init_cfg)
        all_channels = (detail_channels[-1], *semantic_channels,
                        semantic_channels[-1])
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        out_indices = tuple(out_indices)
        bad = [i for i in out_indices if not 0 <= i < len(all_channels)]
        if bad:
            raise ValueError(
                f'out_indices {out_indices}: {bad} out of range; this '
                f'backbone has {len(all_channels)} outputs (0 detail, '
                f'1..{len(semantic_channels)} semantic stages, '
                f'{len(all_channels) - 1} context embedding)')
        self.out_indices = out_indices
        self.out_channels = tuple(all_channels[i] for i in out_indices)
        self.detail = DetailBranch(tuple(detail_channels), in_channels)
        self.semantic = SemanticBranch(
            tuple(semantic_channels), in_channels, semantic_expansion_ratio)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Return the selected detail and semantic features."""
        outs = [self.detail(x)] + list(self.semantic(x))
        return tuple(outs[i] for i in self.out_indices)
