from .contrastive_loss import DoubleMarginContrastiveLoss
from .soft_dice_loss import SoftDiceLoss

__all__ = ['DoubleMarginContrastiveLoss', 'SoftDiceLoss']
