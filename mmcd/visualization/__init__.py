from .change_overlay import compose_change_panel, draw_change_overlay

__all__ = ['draw_change_overlay', 'compose_change_panel']
