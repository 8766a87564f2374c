from .bga_head import BGAHead
from .cam_head import CAMHead
from .metric_head import MetricHead, embedding_distance

__all__ = ['BGAHead', 'CAMHead', 'MetricHead', 'embedding_distance']
