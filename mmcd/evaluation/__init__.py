from .metrics import ChangeMetric

__all__ = ['ChangeMetric']
