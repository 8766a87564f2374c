from .functional import (COUNT_NAMES, METRIC_NAMES, change_confusion,
                         change_metrics_from_counts, change_probability,
                         score_histogram, sweep_thresholds)
from .metrics import ChangeMetric

__all__ = [
    'COUNT_NAMES', 'METRIC_NAMES', 'ChangeMetric', 'change_confusion',
    'change_metrics_from_counts', 'change_probability', 'score_histogram',
    'sweep_thresholds'
]
