from .cam_head import CAMHead
from .metric_head import MetricHead, embedding_distance

__all__ = ['CAMHead', 'MetricHead', 'embedding_distance']
