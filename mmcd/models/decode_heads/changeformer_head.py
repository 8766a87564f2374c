"""ChangeFormer's MLP difference decoder."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.losses import accuracy
from mmseg.models.utils import resize
from mmseg.utils import SampleList
from torch import Tensor

from mmcd.models.utils.scaled_residual_block import ScaledResidualBlock
from mmcd.registry import MODELS


@MODELS.register_module()
class ChangeFormerHead(BaseDecodeHead):
    """The decoder of ChangeFormer V6 (Bandara and Patel, IGARSS 2022).

    Each selected input is ``(B, 2 * in_channels[i], h_i, w_i)``, date A's
    channels first (``TemporalFusionNeck(policy='cat')``). From the
    coarsest level to the finest, each date's features are embedded to
    ``channels`` by a linear layer shared by the dates, the two embeddings
    are concatenated and fused by a difference block (3x3 conv, ReLU, BN,
    3x3 conv, ReLU; convs with bias), and the coarser level's difference is
    added, bilinearly upsampled. The four differences, upsampled to the
    finest level, are concatenated and fused (1x1 conv, BN); two rounds of
    a 4x4 stride-2 transposed conv and a :class:`ScaledResidualBlock` bring
    them to 4x the finest level's size (the input size for a stride-4
    encoder), where a 3x3 conv (``conv_seg``) gives the class logits.

    Training (ChangeFormer's ``multi_scale_train``): a side prediction
    (3x3 conv to ``num_classes``, ReLU, BN, 3x3 conv) of every level's
    difference is supervised too. Each prediction's loss is ``loss_decode``
    against the label resized to the prediction by nearest neighbour (as
    the original; no resizing where the sizes agree), weighted by
    ``side_loss_weights`` for the side predictions; the keys are
    ``<loss_name>_c4`` ... ``<loss_name>_c1`` (coarsest first) and
    ``<loss_name>`` for the final prediction. Inference computes only the
    final prediction. ``forward`` returns the final logits.

    Without ``init_cfg`` the weights follow ChangeFormer's training code:
    conv, transposed-conv and linear weights from N(0, 0.02) with zero
    biases, BatchNorm weights from N(1, 0.02) with zero biases.

    Args:
        in_channels (Sequence[int]): Per-date channels of the selected
            levels, finest first (e.g. ``(64, 128, 320, 512)``).
        channels (int): Embedding width of the decoder (ChangeFormer's
            ``embed_dim``, 256).
        side_loss_weights (Sequence[float]): Loss weights of the side
            predictions, coarsest level first (ChangeFormer:
            ``(0.5, 0.5, 0.5, 0.8)``, the final prediction's weight 1.0
            being ``loss_decode``'s ``loss_weight``). An empty sequence
            trains the final prediction alone (the side convs stay, unused).
            Default: (0.5, 0.5, 0.5, 0.8).
        residual_scale (float): Factor of the residual blocks' branch.
            Default: 0.1.
        **kwargs: :class:`BaseDecodeHead` arguments (``num_classes``,
            ``in_index``, ``norm_cfg``, ``loss_decode``, ``align_corners``,
            ``init_cfg``...). ``input_transform`` is ``'multiple_select'``
            and ``dropout_ratio`` 0 unless given.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 channels: int,
                 side_loss_weights: Sequence[float] = (0.5, 0.5, 0.5, 0.8),
                 residual_scale: float = 0.1,
                 **kwargs):
        kwargs.setdefault('input_transform', 'multiple_select')
        kwargs.setdefault('dropout_ratio', 0.0)
        kwargs.setdefault('init_cfg', None)
        super().__init__(
            in_channels=list(in_channels), channels=channels, **kwargs)
        levels = len(self.in_channels)
        if side_loss_weights and len(side_loss_weights) != levels:
            raise ValueError(
                f'side_loss_weights {side_loss_weights} needs one weight per '
                f'level ({levels}) or none')
        self.side_loss_weights = list(side_loss_weights)
        num_out = self.out_channels

        def bn(c):
            return build_norm_layer(self.norm_cfg or dict(type='BN'), c)[1]

        self.embeds = nn.ModuleList(
            nn.Linear(c, channels) for c in self.in_channels)
        self.diff_convs = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(2 * channels, channels, 3, padding=1), nn.ReLU(),
                bn(channels), nn.Conv2d(channels, channels, 3, padding=1),
                nn.ReLU()) for _ in range(levels))
        self.side_convs = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(channels, num_out, 3, padding=1), nn.ReLU(),
                bn(num_out), nn.Conv2d(num_out, num_out, 3, padding=1))
            for _ in range(levels))
        self.fuse = nn.Sequential(
            nn.Conv2d(levels * channels, channels, 1), bn(channels))
        self.up2x = nn.ConvTranspose2d(channels, channels, 4, 2, padding=1)
        self.res2x = ScaledResidualBlock(channels, residual_scale)
        self.up1x = nn.ConvTranspose2d(channels, channels, 4, 2, padding=1)
        self.res1x = ScaledResidualBlock(channels, residual_scale)
        self.conv_seg = nn.Conv2d(channels, num_out, 3, padding=1)

    def init_weights(self) -> None:
        """ChangeFormer's initialisation without ``init_cfg``."""
        if self.init_cfg is not None:
            super().init_weights()
            return
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def _decode(self, inputs: Sequence[Tensor],
                with_sides: bool) -> Tuple[Tensor, List[Tensor]]:
        feats = self._transform_inputs(inputs)
        diffs, sides = [None] * len(feats), []
        coarser = None
        for i in reversed(range(len(feats))):
            x = feats[i]
            if x.size(1) != 2 * self.in_channels[i]:
                raise ValueError(
                    f'input level {i} must stack both dates (2 x '
                    f'{self.in_channels[i]} channels); got {x.size(1)}')
            n, _, h, w = x.shape
            emb = [
                self.embeds[i](t.flatten(2).transpose(1, 2)).transpose(
                    1, 2).reshape(n, -1, h, w) for t in x.chunk(2, dim=1)
            ]
            diff = self.diff_convs[i](torch.cat(emb, dim=1))
            if coarser is not None:
                diff = diff + F.interpolate(
                    coarser, size=(h, w), mode='bilinear',
                    align_corners=False)
            if with_sides:
                sides.append(self.side_convs[i](diff))
            diffs[i] = coarser = diff
        size = diffs[0].shape[2:]
        x = self.fuse(
            torch.cat([
                resize(d, size=size, mode='bilinear', align_corners=False)
                for d in reversed(diffs[1:])
            ] + [diffs[0]], dim=1))
        x = self.res1x(self.up1x(self.res2x(self.up2x(x))))
        return self.cls_seg(x), sides

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """The final change logits."""
        return self._decode(inputs, with_sides=False)[0]

    def loss(self, inputs: Sequence[Tensor], batch_data_samples: SampleList,
             train_cfg: dict) -> dict:
        """Losses of the final and the side predictions."""
        logits, sides = self._decode(
            inputs, with_sides=bool(self.side_loss_weights))
        return self.loss_by_feat([*sides, logits], batch_data_samples)

    def loss_by_feat(self, seg_logits: Sequence[Tensor],
                     batch_data_samples: SampleList) -> dict:
        """Losses of ``[side_c4, ..., side_c1, final]`` (or ``[final]``)."""
        label = self._stack_batch_gt(batch_data_samples)
        names = [f'_c{i + 1}' for i in reversed(range(len(seg_logits) - 1))]
        weights = self.side_loss_weights[:len(seg_logits) - 1] + [1.0]
        losses_decode = self.loss_decode if isinstance(
            self.loss_decode, nn.ModuleList) else [self.loss_decode]
        loss = dict()
        for logits, name, weight in zip(seg_logits, names + [''], weights):
            target = label
            if target.shape[2:] != logits.shape[2:]:
                target = F.interpolate(
                    label.float(), size=logits.shape[2:],
                    mode='nearest').long()
            target = target.squeeze(1)
            for loss_decode in losses_decode:
                key = loss_decode.loss_name + name
                value = weight * loss_decode(
                    logits, target, ignore_index=self.ignore_index)
                loss[key] = loss[key] + value if key in loss else value
            if not name:
                loss['acc_seg'] = accuracy(
                    logits, target, ignore_index=self.ignore_index)
        return loss
