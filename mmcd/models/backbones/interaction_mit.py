"""MixVisionTransformer whose two dates interact between stages (Changer)."""
from typing import List, Optional, Sequence, Tuple

from mmseg.models.backbones import MixVisionTransformer
from mmseg.models.utils import nlc_to_nchw
from torch import Tensor

from mmcd.registry import MODELS
from ..utils.date_interaction import StageInteractions


@MODELS.register_module()
class InteractionMixVisionTransformer(MixVisionTransformer):
    """mmseg's MixVisionTransformer (SegFormer's MiT) run on both dates,
    with interaction layers between its stages (Changer's
    ``IA_MixVisionTransformer``).

    Takes both dates (``takes_both_dates``, see
    :class:`~mmcd.models.segmentors.SiameseEncoderDecoder`): in every stage
    the patch embedding, each transformer block and the norm run once per
    date with shared weights (date A first, block by block, as the original:
    drop path draws its random numbers in the same order), and the stage's
    ``(N, C, H, W)`` features of both dates pass through
    ``interaction_cfg[i]``. Weights and state-dict keys are
    MixVisionTransformer's.

    Args:
        interaction_cfg (Sequence[dict | None]): One interaction layer
            config (or None) per stage. Default: no interaction.
        **kwargs: :class:`mmseg.models.backbones.MixVisionTransformer`'s
            arguments (``embed_dims``, ``num_layers``, ``init_cfg``...).
    """

    #: forward(img_a, img_b) -> (feats_a, feats_b)
    takes_both_dates = True

    def __init__(self,
                 interaction_cfg: Sequence[Optional[dict]] = (None, None,
                                                              None, None),
                 **kwargs):
        super().__init__(**kwargs)
        self.interactions = StageInteractions(interaction_cfg,
                                              self.num_stages)

    def forward(self, img_a: Tensor,
                img_b: Tensor) -> Tuple[List[Tensor], List[Tensor]]:
        """Per-date features of the ``out_indices`` stages."""
        a, b = img_a, img_b
        outs_a, outs_b = [], []
        for i, (patch_embed, blocks, norm) in enumerate(self.layers):
            a, hw_shape = patch_embed(a)
            b, _ = patch_embed(b)
            for block in blocks:
                a = block(a, hw_shape)
                b = block(b, hw_shape)
            a = nlc_to_nchw(norm(a), hw_shape)
            b = nlc_to_nchw(norm(b), hw_shape)
            a, b = self.interactions(i, a, b)
            if i in self.out_indices:
                outs_a.append(a)
                outs_b.append(b)
        return outs_a, outs_b
