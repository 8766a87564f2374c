from .change_local_visualizer import ChangeLocalVisualizer
from .change_overlay import compose_change_panel, draw_change_overlay

__all__ = [
    'ChangeLocalVisualizer', 'compose_change_panel', 'draw_change_overlay'
]
