from .contrastive_loss import DoubleMarginContrastiveLoss
from .soft_dice_loss import SoftDiceLoss
from .weighted_mean_ce_loss import WeightedMeanCrossEntropyLoss

__all__ = ['DoubleMarginContrastiveLoss', 'SoftDiceLoss',
           'WeightedMeanCrossEntropyLoss']
