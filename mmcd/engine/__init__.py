from .hooks import (ChangeCheckpointMetaHook, ChangeReportHook,
                    ChangeVisualizationHook, change_decision_threshold)

__all__ = [
    'ChangeReportHook', 'ChangeVisualizationHook', 'ChangeCheckpointMetaHook',
    'change_decision_threshold'
]
