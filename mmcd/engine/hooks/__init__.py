from .change_visualization_hook import ChangeVisualizationHook
from .checkpoint_meta_hook import (ChangeCheckpointMetaHook,
                                   change_decision_threshold)

__all__ = [
    'ChangeVisualizationHook', 'ChangeCheckpointMetaHook',
    'change_decision_threshold'
]
