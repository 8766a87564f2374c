from .change_report_hook import ChangeReportHook
from .change_visualization_hook import ChangeVisualizationHook
from .checkpoint_meta_hook import (ChangeCheckpointMetaHook,
                                   change_decision_threshold)

__all__ = [
    'ChangeReportHook', 'ChangeVisualizationHook', 'ChangeCheckpointMetaHook',
    'change_decision_threshold'
]
