from .hooks import (ChangeCheckpointMetaHook, ChangeVisualizationHook,
                    change_decision_threshold)

__all__ = [
    'ChangeVisualizationHook', 'ChangeCheckpointMetaHook',
    'change_decision_threshold'
]
