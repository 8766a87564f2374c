from .hooks import ChangeVisualizationHook

__all__ = ['ChangeVisualizationHook']
