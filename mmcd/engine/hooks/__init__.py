from .change_visualization_hook import ChangeVisualizationHook

__all__ = ['ChangeVisualizationHook']
