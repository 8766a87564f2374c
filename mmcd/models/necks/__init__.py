from .dense_fpn import DenseFPN
from .diff_fpn import DiffFPN
from .dual_attention_embedding import DualAttentionEmbedding
from .temporal_fusion_neck import TemporalFusionNeck

__all__ = ['DenseFPN', 'DiffFPN', 'DualAttentionEmbedding',
           'TemporalFusionNeck']
