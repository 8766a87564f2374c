from .soft_dice_loss import SoftDiceLoss

__all__ = ['SoftDiceLoss']
