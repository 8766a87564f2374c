"""Cross-entropy averaged by the class weights of the labels."""
from mmseg.models.losses import CrossEntropyLoss

from mmcd.registry import MODELS


@MODELS.register_module()
class WeightedMeanCrossEntropyLoss(CrossEntropyLoss):
    """mmseg's ``CrossEntropyLoss`` with PyTorch's class-weighted mean.

    With ``class_weight`` ``w`` and reduction ``'mean'``, the loss is
    ``sum_i w[y_i] * ce_i / sum_i w[y_i]`` over the pixels not ignored, as
    ``torch.nn.NLLLoss(weight=w)`` on log-softmax outputs (and
    ``F.cross_entropy(weight=w)``) computes it. mmseg 1.2.2's
    ``CrossEntropyLoss`` means the same, but looks up the weight of every
    label, ``ignore_index`` included, so a batch with ignored (255) pixels
    raises an ``IndexError``; here the divisor comes from the labels not
    ignored. Without ``class_weight`` this is the plain mean over the
    pixels not ignored.

    Args:
        class_weight (list[float] | str, optional): Weight of each class,
            or a file to load them from (as mmseg's). Default: None.
        loss_weight (float): Weight of the loss. Default: 1.0.
        loss_name (str): Name of the loss item. Default: ``'loss_ce'``.
        **kwargs: The remaining :class:`CrossEntropyLoss` arguments
            (``reduction``); ``use_sigmoid``, ``use_mask`` and
            ``avg_non_ignore`` are fixed (softmax, pixels not ignored).
    """

    def __init__(self,
                 class_weight=None,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_ce',
                 **kwargs):
        super().__init__(
            use_sigmoid=False,
            use_mask=False,
            class_weight=class_weight,
            loss_weight=loss_weight,
            loss_name=loss_name,
            avg_non_ignore=True,
            **kwargs)

    def forward(self,
                cls_score,
                label,
                weight=None,
                avg_factor=None,
                reduction_override=None,
                ignore_index=-100,
                **kwargs):
        """The loss of ``cls_score`` (N, C, ...) for ``label`` (N, ...)."""
        reduction = reduction_override or self.reduction
        if (self.class_weight is not None and avg_factor is None
                and reduction == 'mean'):
            valid = label[label != ignore_index]
            avg_factor = cls_score.new_tensor(self.class_weight)[valid].sum()
        return super().forward(
            cls_score,
            label,
            weight=weight,
            avg_factor=avg_factor,
            reduction_override=reduction_override,
            ignore_index=ignore_index,
            **kwargs)
