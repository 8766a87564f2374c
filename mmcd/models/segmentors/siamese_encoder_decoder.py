from typing import List, Sequence, Tuple

import torch
from torch import Tensor

from mmseg.models.segmentors import EncoderDecoder
from mmcd.registry import MODELS


@MODELS.register_module()
class SiameseEncoderDecoder(EncoderDecoder):
    """Siamese change-detection segmentor built on mmseg's EncoderDecoder.

    The input is one ``(B, 2C, H, W)`` tensor holding date A's channels
    first and date B's after. The shared backbone runs once on the ``2B``
    batch of both dates (so BatchNorm sees both dates' statistics, as in
    LSNet); each backbone level is split back into the two dates and handed
    to the fusion neck as ``neck(feats_a, feats_b)``, whose change features
    feed the decode head (and auxiliary heads). Loss, auxiliary heads, whole
    and slide inference and post-processing are EncoderDecoder's own.

    Args:
        backbone (dict): Any mmseg backbone; it sees one date at a time
            (``C`` input channels).
        neck (dict): A temporal fusion neck taking ``(feats_a, feats_b)``,
            e.g. ``DiffFPN``, ``DenseFPN`` or ``TemporalFusionNeck``.
        decode_head (dict): The decode head on the fused features.
        **kwargs: The remaining :class:`EncoderDecoder` arguments
            (``auxiliary_head``, ``train_cfg``, ``test_cfg``,
            ``data_preprocessor``, ``pretrained``, ``init_cfg``).
    """

    #: Run the backbone once on the ``2B`` batch of both dates. When False
    #: (set on an instance), an eval-mode model runs it once per date
    #: instead: the same features (BatchNorm uses its running statistics),
    #: and faster in ONNX Runtime, where each pass's activations stay in
    #: cache (see :func:`mmcd.models.utils.onnx_export.export_copy`). Training
    #: always takes the joint pass.
    joint_date_pass = True

    def __init__(self, backbone: dict, neck: dict, decode_head: dict,
                 **kwargs):
        if neck is None:
            raise ValueError(
                'SiameseEncoderDecoder needs a fusion `neck` that turns the '
                'two dates\' features into change features, e.g. '
                "dict(type='TemporalFusionNeck', policy='abs_diff')")
        super().__init__(
            backbone=backbone, neck=neck, decode_head=decode_head, **kwargs)

    @staticmethod
    def split_dates(inputs: Tensor) -> Tuple[Tensor, Tensor]:
        """Split a ``(B, 2C, H, W)`` pair tensor into dates A and B."""
        if inputs.dim() != 4 or inputs.size(1) % 2:
            raise ValueError(
                'a change-detection input must be (B, 2C, H, W) with date '
                f'A\'s C channels first; got shape {tuple(inputs.shape)}')
        return inputs.chunk(2, dim=1)

    def extract_date_feats(
            self, inputs: Tensor) -> Tuple[Sequence[Tensor], Sequence[Tensor]]:
        """Backbone features of both dates, from one shared 2B pass (see
        :attr:`joint_date_pass`)."""
        img_a, img_b = self.split_dates(inputs)
        if not (self.joint_date_pass or self.training):
            return self._levels(img_a), self._levels(img_b)
        halves = [
            f.chunk(2, dim=0)
            for f in self._levels(torch.cat([img_a, img_b], dim=0))
        ]
        return [h[0] for h in halves], [h[1] for h in halves]

    def _levels(self, images: Tensor) -> List[Tensor]:
        feats = self.backbone(images)
        return [feats] if isinstance(feats, Tensor) else list(feats)

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        """Change features: fused features of the two dates."""
        feats_a, feats_b = self.extract_date_feats(inputs)
        return self.neck(feats_a, feats_b)
