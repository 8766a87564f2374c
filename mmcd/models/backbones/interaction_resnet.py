"""ResNetV1c whose two dates interact between stages (Changer)."""
from typing import Optional, Sequence, Tuple

from mmseg.models.backbones import ResNetV1c
from torch import Tensor

from mmcd.registry import MODELS
from ..utils.date_interaction import StageInteractions


@MODELS.register_module()
class InteractionResNetV1c(ResNetV1c):
    """mmseg's ResNetV1c run on both dates, with interaction layers between
    its stages (Changer's ``IA_ResNetV1c``).

    Takes both dates (``takes_both_dates``, see
    :class:`~mmcd.models.segmentors.SiameseEncoderDecoder`): the stem and
    every residual stage run once per date with shared weights (date A
    first, so in training BatchNorm normalises each date with its own batch
    statistics), and after stage ``i`` the two dates' features pass through
    ``interaction_cfg[i]`` (e.g. :class:`ChannelExchange`). Weights and
    state-dict keys are ResNetV1c's.

    Args:
        interaction_cfg (Sequence[dict | None]): One interaction layer
            config (or None) per stage. Default: no interaction.
        **kwargs: :class:`mmseg.models.backbones.ResNetV1c`'s arguments
            (``depth``, ``norm_cfg``, ``out_indices``...).
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

    def _stem_forward(self, x: Tensor) -> Tensor:
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        return self.maxpool(x)

    def forward(
        self, img_a: Tensor, img_b: Tensor
    ) -> Tuple[Tuple[Tensor, ...], Tuple[Tensor, ...]]:
        """Per-date features of the ``out_indices`` stages."""
        a, b = self._stem_forward(img_a), self._stem_forward(img_b)
        outs_a, outs_b = [], []
        for i, layer_name in enumerate(self.res_layers):
            res_layer = getattr(self, layer_name)
            a, b = self.interactions(i, res_layer(a), res_layer(b))
            if i in self.out_indices:
                outs_a.append(a)
                outs_b.append(b)
        return tuple(outs_a), tuple(outs_b)
