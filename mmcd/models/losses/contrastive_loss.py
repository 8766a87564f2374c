"""Double-margin contrastive loss of DASNet / DASNet-V2."""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
from torch import Tensor

from mmcd.registry import MODELS


@MODELS.register_module()
class DoubleMarginContrastiveLoss(nn.Module):
    """Double-margin contrastive loss on a per-pixel distance map.

    With ``d`` the distance between the two dates' embeddings of a pixel
    and ``y`` its label (1 = changed; a soft label in ``[0, 1]``, e.g. a
    bilinearly resized mask, is used as is)::

        l = w_u (1 - y) max(d - m_u, 0)^2 + w_c y max(m_c - d, 0)^2

    averaged over the pixels whose label is not ``ignore_index``: unchanged
    pixels are pulled closer than ``margin_unchanged``, changed ones pushed
    farther than ``margin_changed``. DASNet uses the L2 distance of
    unit-normalised embeddings (range ``[0, 2]``) with margins 0.3 / 2.2;
    DASNet-V2's cosine variant uses ``d = 1 - cos`` (also ``[0, 2]``) with
    0.1 / 0.8. The distance itself comes from the head
    (:class:`~mmcd.models.MetricHead`).

    Args:
        margin_unchanged (float): ``m_u``. Defaults to 0.3.
        margin_changed (float): ``m_c``. Defaults to 2.2.
        class_weight (Sequence[float] | str, optional): ``(w_u, w_c)``;
            ``'batch'`` for ``w_u = 1 / (1 - f)``, ``w_c = 1 / f`` with
            ``f`` the changed fraction of the batch's valid pixels (then the
            loss is the mean over changed plus the mean over unchanged
            pixels; the weight of a class absent from the batch is 0).
            DASNet-V2 uses fixed ``(1 / (1 - 0.147), 1 / 0.147)`` (CDD's
            changed fraction). Defaults to None (``(1, 1)``, DASNet).
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        loss_name (str): Name of the loss item (must start with ``loss_``
            to be optimised). Defaults to ``'loss_contrastive'``.
    """

    def __init__(self,
                 margin_unchanged: float = 0.3,
                 margin_changed: float = 2.2,
                 class_weight: Optional[Union[Sequence[float], str]] = None,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_contrastive'):
        super().__init__()
        if margin_unchanged >= margin_changed:
            raise ValueError(
                'DoubleMarginContrastiveLoss needs margin_unchanged < '
                f'margin_changed; got {margin_unchanged} and '
                f'{margin_changed}')
        if isinstance(class_weight, str):
            if class_weight != 'batch':
                raise ValueError(
                    "DoubleMarginContrastiveLoss(class_weight=...) must be "
                    "None, (w_unchanged, w_changed) or 'batch'; got "
                    f'{class_weight!r}')
        elif class_weight is not None:
            class_weight = tuple(float(w) for w in class_weight)
            if len(class_weight) != 2:
                raise ValueError(
                    'DoubleMarginContrastiveLoss(class_weight=...) takes two '
                    f'weights (unchanged, changed); got {class_weight}')
        self.margin_unchanged = margin_unchanged
        self.margin_changed = margin_changed
        self.class_weight = class_weight
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self,
                distance: Tensor,
                label: Tensor,
                weight: Optional[Tensor] = None,
                ignore_index: int = 255,
                **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            distance (Tensor): Distances, ``(N, H, W)`` or ``(N, 1, H, W)``.
            label (Tensor): Labels of the same size: 0 unchanged, 1 changed
                (or a soft label in between), ``ignore_index`` ignored.
            weight (Tensor, optional): Per-pixel weights of the same size.
            ignore_index (int): Label left out. Defaults to 255.

        Returns:
            Tensor: The scalar loss (0 when no pixel is valid).
        """
        if distance.dim() == 4:
            distance = distance.squeeze(1)
        label = label.reshape(distance.shape).to(distance.dtype)
        valid = label != ignore_index
        y = torch.where(valid, label, torch.zeros_like(label))
        pull = (distance - self.margin_unchanged).clamp(min=0).pow(2)
        push = (self.margin_changed - distance).clamp(min=0).pow(2)
        w_unchanged, w_changed = self._class_weights(y, valid)
        loss = w_unchanged * (1 - y) * pull + w_changed * y * push
        if weight is not None:
            loss = loss * weight.reshape(loss.shape)
        loss = torch.where(valid, loss, torch.zeros_like(loss))
        return self.loss_weight * loss.sum() / valid.sum().clamp(min=1)

    def _class_weights(self, y: Tensor, valid: Tensor):
        """``(w_unchanged, w_changed)`` for this batch."""
        if self.class_weight is None:
            return 1.0, 1.0
        if self.class_weight != 'batch':
            return self.class_weight
        with torch.no_grad():
            changed = y[valid].sum()
            total = valid.sum().to(y.dtype)
            unchanged = total - changed
            w_changed = torch.where(changed > 0, total / changed,
                                    torch.zeros_like(changed))
            w_unchanged = torch.where(unchanged > 0, total / unchanged,
                                      torch.zeros_like(unchanged))
        return w_unchanged, w_changed

    @property
    def loss_name(self) -> str:
        """Name of the loss item."""
        return self._loss_name
