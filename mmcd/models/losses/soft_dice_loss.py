"""LSNet's soft Dice loss in mmseg's loss interface."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmcd.registry import MODELS


@MODELS.register_module()
class SoftDiceLoss(nn.Module):
    """Soft Dice loss of LSNet (and SNUNet-CD).

    Class probabilities (softmax over the logits; with a single output
    channel, ``[sigmoid, 1 - sigmoid]`` against ``[label == 1, label ==
    0]``) are compared with the one-hot target. For every class ``c``,
    ``I_c = sum(p_c * t_c)`` and ``card_c = sum(p_c + t_c)`` are summed over
    the batch and all pixels, and the loss is
    ``1 - mean_c(2 * I_c / (card_c + eps))``.

    Pixels whose label equals ``ignore_index`` are left out of both sums;
    a per-pixel ``weight`` (e.g. from an mmseg sampler) multiplies every
    pixel's terms. Combine with
    ``CrossEntropyLoss(avg_non_ignore=True)`` (both ``loss_weight=1``) in
    ``loss_decode`` for LSNet's hybrid loss.

    Args:
        eps (float): Added to the denominator. Default: 1e-7.
        per_column (bool): Reproduce the exact reduction of the original
            LSNet code, whose sum dimensions ``(0,) + range(2, target.ndim)``
            with a ``(B, H, W)`` target cover the batch and the height only:
            the Dice is then computed per class and image column and
            averaged over both. Default: False (sums over batch and space,
            as the loss is described).
        loss_weight (float): Weight of the loss. Default: 1.0.
        loss_name (str): Name in the loss dict; needs the ``loss_`` prefix
            to be back-propagated. Default: ``'loss_dice'``.
    """

    def __init__(self,
                 eps: float = 1e-7,
                 per_column: bool = False,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_dice'):
        super().__init__()
        self.eps = eps
        self.per_column = per_column
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self,
                cls_score: Tensor,
                label: Tensor,
                weight: Optional[Tensor] = None,
                ignore_index: Optional[int] = 255,
                **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            cls_score (Tensor): Logits, ``(N, C, H, W)``.
            label (Tensor): Class indices, ``(N, H, W)`` (or ``(N, 1, H,
                W)``).
            weight (Tensor, optional): Per-pixel weights, ``(N, H, W)``.
            ignore_index (int, optional): Label value to leave out.
                Default: 255.

        Returns:
            Tensor: The scalar loss.
        """
        if label.dim() == cls_score.dim():
            label = label.squeeze(1)
        label = label.long()
        num_classes = cls_score.shape[1]
        valid = torch.ones_like(label, dtype=torch.bool)
        if ignore_index is not None:
            valid = label != ignore_index
        target = torch.where(valid, label, torch.zeros_like(label))
        if num_classes == 1:
            pos = cls_score.sigmoid()
            probs = torch.cat([pos, 1 - pos], dim=1)
            target = 1 - target.clamp(max=1)  # channel 0 is the positive
            one_hot = F.one_hot(target, 2)
        else:
            probs = cls_score.softmax(dim=1)
            one_hot = F.one_hot(target, num_classes)
        one_hot = one_hot.permute(0, 3, 1, 2).to(probs.dtype)
        mask = valid.to(probs.dtype)
        if weight is not None:
            mask = mask * weight.to(probs.dtype)
        mask = mask.unsqueeze(1)
        dims = (0, 2) if self.per_column else (0, 2, 3)
        intersection = torch.sum(probs * one_hot * mask, dims)
        cardinality = torch.sum((probs + one_hot) * mask, dims)
        dice = (2. * intersection / (cardinality + self.eps)).mean()
        return self.loss_weight * (1. - dice)

    @property
    def loss_name(self) -> str:
        """Name of the loss item in the loss dict."""
        return self._loss_name
