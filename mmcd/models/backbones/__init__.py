from .bisenetv2_branches import BiSeNetV2Branches
from .changeformer_encoder import ChangeFormerEncoder
from .efficientnet import EfficientNet
from .fc_unet_encoder import FCUNetEncoder
from .interaction_mit import InteractionMixVisionTransformer
from .interaction_resnet import InteractionResNetV1c
from .light_siamese import LightSiamese
from .nested_unet_encoder import NestedUNetEncoder

__all__ = ['BiSeNetV2Branches', 'ChangeFormerEncoder', 'EfficientNet',
           'FCUNetEncoder',
           'InteractionMixVisionTransformer', 'InteractionResNetV1c',
           'LightSiamese', 'NestedUNetEncoder']
