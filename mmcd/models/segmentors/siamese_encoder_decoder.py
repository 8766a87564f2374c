from typing import List, Sequence, Tuple

import torch
from torch import Tensor

from mmseg.models.segmentors import EncoderDecoder
from mmcd.registry import MODELS


def _as_levels(feats) -> List[Tensor]:
    """A backbone's output (a tensor or a sequence of levels) as a list."""
    return [feats] if isinstance(feats, Tensor) else list(feats)


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

    Backbones that see both dates: a backbone whose class sets
    ``takes_both_dates = True`` is called once as
    ``backbone(img_a, img_b)`` and returns ``(feats_a, feats_b)`` (one
    tensor or a sequence of levels per date); it decides itself how the
    dates share weights, batches and statistics and where they interact
    (e.g. :class:`~mmcd.models.backbones.InteractionResNetV1c`, Changer's
    exchange layers between stages). ``joint_train_pass`` and
    :attr:`joint_date_pass` do not apply to it; the neck, heads, losses,
    inference, :class:`FastChangeSegmentor` and ONNX export work unchanged,
    as long as its forward is traceable. To add an interaction model, write
    such a backbone (subclass an mmseg backbone and override ``forward``);
    nothing else changes.

    Args:
        backbone (dict): Any mmseg backbone; it sees one date at a time
            (``C`` input channels), unless it takes both dates (above).
        neck (dict): A temporal fusion neck taking ``(feats_a, feats_b)``,
            e.g. ``DiffFPN``, ``DenseFPN`` or ``TemporalFusionNeck``.
        decode_head (dict): The decode head on the fused features.
        joint_train_pass (bool): In training, run the backbone once on the
            ``2B`` batch of both dates (BatchNorm normalises with both
            dates' batch statistics, as LSNet's code). False runs it once
            per date, date A first, so each date is normalised with its own
            batch statistics and the running statistics are updated once
            per date (as SNUNet-CD's code). Default: True.
        **kwargs: The remaining :class:`EncoderDecoder` arguments
            (``auxiliary_head``, ``train_cfg``, ``test_cfg``,
            ``data_preprocessor``, ``pretrained``, ``init_cfg``).
    """

    #: Run the backbone once on the ``2B`` batch of both dates. When False
    #: (set on an instance), an eval-mode model runs it once per date
    #: instead: the same features (BatchNorm uses its running statistics),
    #: and faster in ONNX Runtime, where each pass's activations stay in
    #: cache (see :func:`mmcd.models.utils.onnx_export.export_copy`). Training
    #: follows ``joint_train_pass`` instead.
    joint_date_pass = True

    def __init__(self, backbone: dict, neck: dict, decode_head: dict,
                 joint_train_pass: bool = True, **kwargs):
        if neck is None:
            raise ValueError(
                'SiameseEncoderDecoder needs a fusion `neck` that turns the '
                'two dates\' features into change features, e.g. '
                "dict(type='TemporalFusionNeck', policy='abs_diff')")
        super().__init__(
            backbone=backbone, neck=neck, decode_head=decode_head, **kwargs)
        self.joint_train_pass = joint_train_pass

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
        """Backbone features of both dates, from one shared 2B pass or one
        pass per date (see :attr:`joint_date_pass`, ``joint_train_pass``)."""
        img_a, img_b = self.split_dates(inputs)
        if getattr(self.backbone, 'takes_both_dates', False):
            feats_a, feats_b = self.backbone(img_a, img_b)
            return _as_levels(feats_a), _as_levels(feats_b)
        joint = self.joint_train_pass if self.training else \
            self.joint_date_pass
        if not joint:
            return self._levels(img_a), self._levels(img_b)
        halves = [
            f.chunk(2, dim=0)
            for f in self._levels(torch.cat([img_a, img_b], dim=0))
        ]
        return [h[0] for h in halves], [h[1] for h in halves]

    def _levels(self, images: Tensor) -> List[Tensor]:
        return _as_levels(self.backbone(images))

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        """Change features: fused features of the two dates."""
        feats_a, feats_b = self.extract_date_feats(inputs)
        return self.neck(feats_a, feats_b)
