from .bga_head import BGAHead
from .bit_head import BITHead
from .cam_head import CAMHead
from .changeformer_head import ChangeFormerHead
from .changer_head import ChangerHead
from .fc_unet_head import FCUNetHead
from .metric_head import MetricHead, embedding_distance
from .up_mask_head import UpMaskHead

__all__ = ['BGAHead', 'BITHead', 'CAMHead', 'ChangeFormerHead', 'ChangerHead',
           'FCUNetHead',
           'MetricHead', 'UpMaskHead',
           'embedding_distance']
