from .bisenetv2_branches import BiSeNetV2Branches
from .light_siamese import LightSiamese

__all__ = ['BiSeNetV2Branches', 'LightSiamese']
