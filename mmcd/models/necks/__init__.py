from .dense_fpn import DenseFPN
from .diff_fpn import DiffFPN
from .temporal_fusion_neck import TemporalFusionNeck

__all__ = ['DenseFPN', 'DiffFPN', 'TemporalFusionNeck']
