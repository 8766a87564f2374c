"""Metric-learning change head of DASNet / DASNet-V2: per-pixel distance
between the two dates' embeddings."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from torch import Tensor

from mmcd.registry import MODELS

DISTANCES = ('l2', 'cosine')


def embedding_distance(emb_a: Tensor, emb_b: Tensor, distance: str = 'l2',
                       eps: float = 1e-6) -> Tensor:
    """Per-pixel distance between two ``(N, C, H, W)`` embeddings.

    - ``'l2'``: ``sqrt(sum_c (|a_c - b_c| + eps)^2)``, DASNet's form (the
      ``eps`` keeps the gradient finite where the embeddings coincide);
    - ``'cosine'``: ``1 - cos(a, b)``.

    Args:
        emb_a (Tensor): Date A's embedding.
        emb_b (Tensor): Date B's embedding.
        distance (str): ``'l2'`` or ``'cosine'``. Default: ``'l2'``.
        eps (float): See above. Default: 1e-6.

    Returns:
        Tensor: ``(N, 1, H, W)`` distances.
    """
    if distance == 'l2':
        return ((emb_a - emb_b).abs() + eps).pow(2).sum(1, keepdim=True).sqrt()
    if distance == 'cosine':
        return 1 - F.cosine_similarity(emb_a, emb_b, dim=1).unsqueeze(1)
    raise ValueError(f'distance must be one of {DISTANCES}; got {distance!r}')


@MODELS.register_module()
class MetricHead(BaseDecodeHead):
    """Change map as the distance between two dates' embeddings (DASNet).

    Each selected input (``in_index``; from
    :class:`~mmcd.models.DualAttentionEmbedding`: ``sa``, ``sc``, ``sasc``)
    is ``(B, 2C, h, w)``, date A's ``C`` channels first. Both dates go
    through the optional decoder (DASNet-V2: ``len(decoder_channels)``
    blocks of 4x4 stride-2 transposed conv with bias, BN and LeakyReLU, each
    doubling the size, shared by all inputs and dates), are L2-normalised
    over channels, and give a distance map (:func:`embedding_distance`).

    Training: ``loss_decode`` (e.g. :class:`DoubleMarginContrastiveLoss`) on
    the distance map of every selected input, logged as
    ``<loss_name>_<input name>``; the labels are resized to the distance
    map when the sizes differ (DASNet's 1/8 maps: bilinear with
    ``align_corners=True``, soft labels as in the original; a pixel touched
    by an ignored label is ignored).

    Prediction: the distance map of the last selected input. The head has
    one output channel whose logit is ``distance - distance_threshold``, so
    mmseg's post-processing (``sigmoid(logit) > threshold`` with
    ``threshold=0.5``) marks exactly ``distance > distance_threshold`` as
    changed; resizing and slide inference average the logit, i.e. the
    distance; the stored ``seg_logits`` ``sigmoid(distance -
    distance_threshold)`` are monotone in the distance, which is what
    :class:`~mmcd.evaluation.ChangeMetric`'s threshold sweep needs (a swept
    probability threshold ``p`` is the distance
    ``distance_threshold + ln(p / (1 - p))``).

    Args:
        in_channels (Sequence[int]): Per-date channels of each selected
            input (equal). Default: ``(512, 512, 512)``.
        in_index (Sequence[int]): Inputs used. Default: ``(0, 1, 2)``.
        input_names (Sequence[str]): Names of all the inputs (loss keys).
            Default: ``('sa', 'sc', 'sasc')``.
        distance (str): ``'l2'`` or ``'cosine'``. Default: ``'l2'``.
        distance_threshold (float): Distance above which a pixel is
            changed. Default: 1.0 (for unit embeddings ``cos = 0.5``; use
            0.5 with ``'cosine'`` for the same boundary).
        decoder_channels (Sequence[int], optional): Output channels of the
            decoder blocks, e.g. ``(256, 128, 32)`` (DASNet-V2,
            2,688,224 parameters from 512 channels). Default: None.
        loss_decode (dict | list[dict]): Losses on each distance map.
            Default: ``dict(type='DoubleMarginContrastiveLoss')``.
        norm_cfg (dict): Norm layers of the decoder. Default:
            ``dict(type='BN')``.
        act_cfg (dict): Activations of the decoder. Default:
            ``dict(type='LeakyReLU', negative_slope=0.01)``.
        init_cfg (dict | list[dict], optional): Default: None.
        **kwargs: Other :class:`BaseDecodeHead` arguments
            (``ignore_index``, ``align_corners``, ...).
    """

    def __init__(self,
                 in_channels: Sequence[int] = (512, 512, 512),
                 in_index: Sequence[int] = (0, 1, 2),
                 input_names: Sequence[str] = ('sa', 'sc', 'sasc'),
                 distance: str = 'l2',
                 distance_threshold: float = 1.0,
                 decoder_channels: Sequence[int] = None,
                 loss_decode=dict(type='DoubleMarginContrastiveLoss'),
                 norm_cfg=dict(type='BN', requires_grad=True),
                 act_cfg=dict(type='LeakyReLU', negative_slope=0.01),
                 init_cfg=None,
                 **kwargs):
        if distance not in DISTANCES:
            raise ValueError(f'MetricHead(distance=...) must be one of '
                             f'{DISTANCES}; got {distance!r}')
        in_channels, in_index = list(in_channels), list(in_index)
        if len(set(in_channels)) != 1:
            raise ValueError('MetricHead needs inputs of equal channels (one '
                             f'shared decoder); got in_channels={in_channels}')
        if len(input_names) <= max(in_index):
            raise ValueError(f'MetricHead: in_index {in_index} needs a name '
                             f'per input; got input_names={input_names}')
        decoder_channels = list(decoder_channels or [])
        super().__init__(
            in_channels=in_channels,
            channels=(decoder_channels or in_channels)[-1],
            in_index=in_index,
            input_transform='multiple_select',
            num_classes=2,
            out_channels=1,
            threshold=0.5,
            loss_decode=loss_decode,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            init_cfg=init_cfg,
            **kwargs)
        # the distance is the output: no classifier
        del self.conv_seg
        self.dropout = None
        self.distance = distance
        self.distance_threshold = distance_threshold
        self.input_names = [input_names[i] for i in in_index]
        blocks, cin = [], in_channels[0]
        for cout in decoder_channels:
            blocks += [
                nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1),
                build_norm_layer(norm_cfg, cout)[1],
                build_activation_layer(act_cfg)
            ]
            cin = cout
        self.decoder = nn.Sequential(*blocks) if blocks else None

    def distance_map(self, x: Tensor) -> Tensor:
        """``(B, 1, H, W)`` distances of one ``(B, 2C, h, w)`` input."""
        emb = torch.cat(x.chunk(2, dim=1))  # both dates as one 2B batch
        if self.decoder is not None:
            emb = self.decoder(emb)
        emb_a, emb_b = F.normalize(emb, p=2, dim=1).chunk(2)
        return embedding_distance(emb_a, emb_b, self.distance)

    def forward(self, inputs: Sequence[Tensor]) -> List[Tensor]:
        """Distance maps of all selected inputs."""
        return [self.distance_map(x) for x in self._transform_inputs(inputs)]

    def predict(self, inputs: Tuple[Tensor], batch_img_metas: List[dict],
                test_cfg) -> Tensor:
        """``distance - distance_threshold`` of the last selected input,
        resized to the input size."""
        distance = self.distance_map(self._transform_inputs(inputs)[-1])
        return self.predict_by_feat(distance - self.distance_threshold,
                                    batch_img_metas)

    def loss_by_feat(self, distances: List[Tensor],
                     batch_data_samples) -> dict:
        """The losses of every distance map.

        Args:
            distances (list[Tensor]): ``forward``'s output.
            batch_data_samples (list[SegDataSample]): With ``gt_sem_seg``.

        Returns:
            dict[str, Tensor]: ``<loss_name>_<input name>`` items.
        """
        label = self._stack_batch_gt(batch_data_samples).float()
        losses_decode = self.loss_decode if isinstance(
            self.loss_decode, nn.ModuleList) else [self.loss_decode]
        losses = dict()
        for name, distance in zip(self.input_names, distances):
            target = self._resize_label(label, distance.shape[2:])
            for loss_decode in losses_decode:
                key = f'{loss_decode.loss_name}_{name}'
                losses[key] = losses.get(key, 0) + loss_decode(
                    distance, target, ignore_index=self.ignore_index)
        return losses

    def _resize_label(self, label: Tensor, size) -> Tensor:
        """``(B, 1, H, W)`` labels at ``size``: bilinear with
        ``align_corners=True`` (soft labels, as DASNet), ignoring every
        output pixel that an ignored input pixel contributes to."""
        if tuple(label.shape[2:]) == tuple(size):
            return label
        valid = (label != self.ignore_index).float()
        resized = F.interpolate(
            label * valid, size, mode='bilinear', align_corners=True)
        valid = F.interpolate(
            valid, size, mode='bilinear', align_corners=True) > 1 - 1e-4
        return torch.where(valid, resized,
                           torch.full_like(resized, self.ignore_index))
