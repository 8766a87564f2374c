"""Write ChangeMetric's PR curve and per-image table into the log dir."""
import csv
import json
import os
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np
from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmcd.evaluation import (COUNT_NAMES, ChangeMetric,
                             change_metrics_from_counts)
from mmcd.registry import HOOKS


def _new_path(directory: str, stem: str, suffix: str) -> str:
    """``directory/stem.suffix``, or with ``_1``, ``_2``... appended when
    that file exists: nothing is overwritten."""
    os.makedirs(directory, exist_ok=True)
    path, n = osp.join(directory, stem + suffix), 0
    while osp.exists(path):
        n += 1
        path = osp.join(directory, f'{stem}_{n}{suffix}')
    return path


@HOOKS.register_module()
class ChangeReportHook(Hook):
    """Write the reports of every :class:`~mmcd.evaluation.ChangeMetric`
    after each validation and test.

    The metric only computes; this hook writes what its last evaluation
    kept, on the main process, into ``runner.log_dir``
    (``work_dir/<timestamp>``):

    - with ``threshold_sweep``: ``pr_curve_<stage>.json`` (MaxF, AP, the
      curve and ``num_bins``) and ``pr_curve_<stage>.png``;
    - with ``per_image_table``: ``per_image_<stage>.csv``, Precision,
      Recall, F1, IoU and the counts of each pair, worst F1 first; a score
      that is 0/0 for that image is left empty (an empty F1 means no change
      in the ground truth nor in the prediction; those rows come last).

    ``<stage>`` is ``test`` in a test run, ``val_iter_<runner.iter>`` in a
    validation during training (``val`` for one before any training
    iteration). An existing file is never overwritten: a ``_1``, ``_2``...
    suffix is added.

    Args:
        out_dir (str, optional): Directory of the files; a relative path is
            taken inside ``runner.log_dir``. Defaults to None, which means
            ``runner.log_dir``.
    """

    priority = 'LOW'

    def __init__(self, out_dir: Optional[str] = None) -> None:
        self.out_dir = out_dir

    def after_val_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        """Write the reports of the validation evaluator's metrics."""
        stage = f'val_iter_{runner.iter}' if runner.iter else 'val'
        self._write_reports(runner, runner.val_evaluator.metrics, stage)

    def after_test_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        """Write the reports of the test evaluator's metrics."""
        self._write_reports(runner, runner.test_evaluator.metrics, 'test')

    @master_only
    def _write_reports(self, runner, metrics: list, stage: str) -> None:
        out_dir = osp.join(runner.log_dir, self.out_dir or '')
        for metric in metrics:
            if not isinstance(metric, ChangeMetric):
                continue
            if metric.last_sweep is not None:
                self._write_pr_curve(metric.last_sweep, metric.num_bins,
                                     out_dir, stage)
            if metric.last_per_image is not None:
                self._write_per_image_table(metric.last_per_image, out_dir,
                                            stage)

    @staticmethod
    def _write_pr_curve(sweep: dict, num_bins: int, out_dir: str,
                        stage: str) -> None:
        """``pr_curve_<stage>.json`` (scores and curve) and ``.png``."""
        json_path = _new_path(out_dir, f'pr_curve_{stage}', '.json')
        with open(json_path, 'w') as f:
            json.dump(dict(sweep, num_bins=num_bins,
                           score='probability of change; threshold t means '
                           'p > t (t = 0: every pixel)'), f)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        fig = Figure(figsize=(5, 5))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.plot(sweep['recall'], sweep['precision'], lw=1.5)
        ax.plot([sweep['MaxF_Recall']], [sweep['MaxF_Precision']], 'o',
                label=f'MaxF {sweep["MaxF"]:.4f} at p > '
                f'{sweep["MaxF_threshold"]:.3f}')
        ax.set(xlabel='Recall', ylabel='Precision', xlim=(0, 1.01),
               ylim=(0, 1.01), title=f'{stage}: AP {sweep["AP"]:.4f}')
        ax.grid(alpha=0.3)
        ax.legend(loc='lower left')
        fig.savefig(json_path[:-len('.json')] + '.png', dpi=100)
        print_log(f'PR curve written to {json_path} (and .png)',
                  logger='current')

    @staticmethod
    def _write_per_image_table(per_image: List[Tuple[str, np.ndarray]],
                               out_dir: str, stage: str) -> None:
        """``per_image_<stage>.csv``, worst F1 first."""
        rows = []
        for name, counts in per_image:
            tp, fp, fn, tn = (int(c) for c in counts)
            dens = dict(Precision=tp + fp, Recall=tp + fn,
                        F1=2 * tp + fp + fn, IoU=tp + fp + fn)
            scores = change_metrics_from_counts(tp, fp, fn, tn)
            row = {k: (scores[k] if dens[k] else None) for k in dens}
            rows.append((name, row, (tp, fp, fn, tn)))
        # undefined F1 (nothing to find, nothing found) last
        rows.sort(key=lambda r: (r[1]['F1'] is None, r[1]['F1'] or 0, r[0]))
        path = _new_path(out_dir, f'per_image_{stage}', '.csv')
        with open(path, 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(['pair', 'Precision', 'Recall', 'F1', 'IoU'] +
                            list(COUNT_NAMES))
            for name, row, counts in rows:
                writer.writerow(
                    [name] +
                    ['' if v is None else f'{v:.6f}' for v in row.values()] +
                    list(counts))
        print_log(f'per-image results written to {path}', logger='current')
