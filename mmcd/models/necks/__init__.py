from .bit_neck import BITNeck
from .dense_fpn import DenseFPN
from .diff_fpn import DiffFPN
from .dual_attention_embedding import DualAttentionEmbedding
from .mixing_mask_attention_neck import MixingMaskAttentionNeck
from .nested_unet_decoder import NestedUNetDecoder
from .temporal_fusion_neck import TemporalFusionNeck

__all__ = ['BITNeck', 'DenseFPN', 'DiffFPN', 'DualAttentionEmbedding',
           'MixingMaskAttentionNeck',
           'NestedUNetDecoder', 'TemporalFusionNeck']
