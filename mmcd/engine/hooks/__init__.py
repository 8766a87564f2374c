from .change_report_hook import ChangeReportHook
from .channels_last_hook import ChannelsLastHook
from .change_visualization_hook import ChangeVisualizationHook
from .compile_network_hook import CompileNetworkHook
from .checkpoint_meta_hook import (ChangeCheckpointMetaHook,
                                   change_decision_threshold)
from .exact_resume_hook import ExactResumeHook
from .weights_match_hook import WeightsMatchHook

__all__ = [
    'ChangeReportHook', 'ChangeVisualizationHook', 'ChangeCheckpointMetaHook',
    'ExactResumeHook', 'ChannelsLastHook', 'CompileNetworkHook',
    'change_decision_threshold', 'WeightsMatchHook'
]
