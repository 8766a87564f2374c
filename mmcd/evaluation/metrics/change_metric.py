"""Binary change-detection metric with the papers' global protocol."""
import os
import os.path as osp
from collections import OrderedDict, deque
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dist import (all_reduce, collect_results, get_dist_info,
                           is_main_process)
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from prettytable import PrettyTable

from mmcd.evaluation.functional import (COUNT_NAMES, METRIC_NAMES,
                                        change_confusion,
                                        change_metrics_from_counts,
                                        change_probability, score_histogram,
                                        sweep_thresholds)
from mmcd.registry import METRICS
from mmcd.utils.data_sample import pixel_data, sample_field
from mmcd.utils.writers import write_mask


@METRICS.register_module()
class ChangeMetric(BaseMetric):
    """Binary change-detection metric over one global confusion matrix.

    The protocol of the change-detection papers: the ``TP / FP / FN / TN``
    counts of the change class are summed over the whole test set, and the
    scores are computed once from these totals (not averaged per image).
    The returned dict has the top-level keys ``Precision``, ``Recall``,
    ``F1``, ``IoU`` (of the change class), ``OA`` (overall accuracy) and
    ``Kappa`` (Cohen's), as fractions (F1 0.9413, not 94.13), so that e.g.
    ``CheckpointHook(save_best='F1', rule='greater')`` works. A table of the
    scores and the raw counts is written to the log. The metric only
    computes, like mmseg's ``IoUMetric``: the PR curve and the per-image
    table of its last evaluation are kept in :attr:`last_sweep` and
    :attr:`last_per_image`, and :class:`~mmcd.engine.ChangeReportHook`
    writes them into the run's log directory.

    ``process`` keeps only four ``int64`` counts per sample (one record per
    sample, so ``evaluate(size)`` drops the samples padded by a distributed
    sampler), and ``compute_metrics`` is an exact integer sum of them: the
    result is bit-identical however the test set is split across processes
    or ordered. Zero denominators give 0, never NaN (see
    :func:`change_metrics_from_counts`).

    Data samples (``SegDataSample`` or their ``to_dict()`` form) need
    ``pred_sem_seg.data`` of shape ``(1, H, W)`` with 0 unchanged / 1
    changed and, unless ``format_only``, ``gt_sem_seg.data`` with 0 / 1 and
    ``ignore_index``.

    Args:
        ignore_index (int): Ground-truth label excluded from the counts.
            Defaults to 255.
        output_dir (str, optional): If given, ``process`` saves each
            predicted change mask as a single-channel 0/255 PNG named after
            the pair: the basename of ``img_path`` (date A) with its suffix
            replaced by ``.png``. The directory is created. Two different
            pairs with the same basename raise a ``ValueError`` naming both
            rather than overwrite one another (checked within a process and
            one evaluation round). Defaults to None.
        format_only (bool): Only save the masks (needs ``output_dir``),
            without computing metrics: ``compute_metrics`` returns ``{}`` and
            samples need no ground truth (unlabelled test sets). Defaults to
            False.
        collect_device (str): Device used to collect results across ranks,
            ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names (``prefix/F1``).
            Defaults to None, which keeps the names top-level.
        collect_dir (str, optional): Synchronisation directory for
            ``collect_device='cpu'``. Defaults to None.
        keep_results (bool): Accepted and ignored, for configs edited by
            mmseg-style ``tools/test.py --out``. Defaults to False.
        threshold_sweep (bool): Also sweep the decision threshold over the
            per-pixel change probability (``seg_logits``, see
            :func:`change_probability`; works for softmax, sigmoid and
            distance models) and report ``MaxF`` (best F1),
            ``MaxF_threshold`` (the probability threshold giving it: for a
            1-channel model the ``decode_head.threshold`` to use),
            ``MaxF_Precision``, ``MaxF_Recall`` and ``AP`` (average
            precision), besides the scores at the model's own threshold.
            Each process keeps one fixed-size histogram (and those of its
            last ``world_size`` samples, to drop a distributed sampler's
            padding exactly), summed across processes, so memory does not
            grow with the dataset and the result does not depend on the
            number of processes. The curve is kept in :attr:`last_sweep`.
            Defaults to False.
        num_bins (int): Number of histogram bins (thresholds ``k /
            num_bins``) of the sweep. Defaults to 1000.
        per_image_table (bool): Also keep the counts of each pair (named by
            the basename of ``img_path``) in :attr:`last_per_image`, for
            the per-image table. ``tools/test.py`` switches it on. Defaults
            to False.

    Attributes:
        last_sweep (dict, optional): The :func:`sweep_thresholds` result of
            the last evaluation on the main process (None without
            ``threshold_sweep``).
        last_per_image (list[tuple[str, np.ndarray]], optional): The pair
            name and ``[TP, FP, FN, TN]`` of every sample of the last
            evaluation on the main process, in dataset order (None without
            ``per_image_table``).
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 ignore_index: int = 255,
                 output_dir: Optional[str] = None,
                 format_only: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None,
                 keep_results: bool = False,
                 threshold_sweep: bool = False,
                 num_bins: int = 1000,
                 per_image_table: bool = False) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)
        if format_only and not output_dir:
            raise ValueError(
                'ChangeMetric(format_only=True) only saves the predicted '
                'masks, so it needs an `output_dir` (e.g. tools/test.py '
                '--out DIR)')
        if not isinstance(num_bins, int) or num_bins < 1:
            raise ValueError('ChangeMetric(num_bins=...) must be a positive '
                             f'int; got {num_bins!r}')
        self.ignore_index = ignore_index
        self.output_dir = output_dir
        self.format_only = format_only
        self.threshold_sweep = threshold_sweep and not format_only
        self.num_bins = num_bins
        self.per_image_table = per_image_table and not format_only
        self.last_sweep: Optional[dict] = None
        self.last_per_image: Optional[List[Tuple[str, np.ndarray]]] = None
        # sweep state: the sum over all samples but the last `world_size`,
        # whose histograms are held back (see `_merged_histogram`)
        self._histogram = np.zeros((2, num_bins), dtype=np.int64)
        self._recent_histograms: deque = deque()
        self._num_swept = 0
        # per-image table: the pair name of every record in self.results
        self._pair_names: List[str] = []
        self._gathered: dict = {}
        # basename of a saved mask -> the pair it was saved for
        self._saved_pairs: Dict[str, tuple] = {}
        if self.output_dir and is_main_process():
            os.makedirs(self.output_dir, exist_ok=True)

    def process(self, data_batch, data_samples: Sequence) -> None:
        """Count one batch, and save its masks if ``output_dir`` is set.

        Appends one ``int64`` ``[TP, FP, FN, TN]`` array per sample to
        ``self.results`` (nothing when ``format_only``).

        Args:
            data_batch (Any): A batch from the dataloader (unused).
            data_samples (Sequence[dict | SegDataSample]): The model's
                outputs with predictions and, unless ``format_only``,
                ground truth.
        """
        for sample in data_samples:
            pred = pixel_data(sample_field(sample, 'pred_sem_seg'))
            if pred is None:
                raise KeyError(
                    'ChangeMetric needs `pred_sem_seg` in every data sample')
            if not self.format_only:
                gt = pixel_data(sample_field(sample, 'gt_sem_seg'))
                if gt is None:
                    raise ValueError(
                        'ChangeMetric got a data sample without '
                        '`gt_sem_seg` (img_path='
                        f'{sample_field(sample, "img_path")}); to only save '
                        'the predictions of an unlabelled test set use '
                        'ChangeMetric(format_only=True, output_dir=...)')
                self.results.append(
                    change_confusion(pred, gt, self.ignore_index))
                if self.per_image_table:
                    self._pair_names.append(self._pair_name(sample))
                if self.threshold_sweep:
                    self._add_to_histogram(sample, gt)
            if self.output_dir is not None:
                self._save_mask(sample, pred)

    @staticmethod
    def _pair_name(sample) -> str:
        """The basename of the sample's ``img_path`` (date A)."""
        img_path = sample_field(sample, 'img_path')
        if img_path is None:
            raise KeyError('ChangeMetric names saved masks and per-image '
                           'rows after `img_path`, which the sample lacks')
        return osp.basename(img_path)

    def _add_to_histogram(self, sample, gt) -> None:
        """Add one sample's score histogram, holding back the most recent
        ``world_size`` ones (a distributed sampler pads at the end)."""
        seg_logits = pixel_data(sample_field(sample, 'seg_logits'))
        if seg_logits is None:
            raise KeyError('ChangeMetric(threshold_sweep=True) needs '
                           '`seg_logits` in every data sample '
                           f'(img_path={sample_field(sample, "img_path")})')
        histogram = score_histogram(
            change_probability(seg_logits), gt, self.num_bins,
            self.ignore_index)
        self._recent_histograms.append(histogram)
        self._num_swept += 1
        if len(self._recent_histograms) > get_dist_info()[1]:
            self._histogram += self._recent_histograms.popleft()

    def _merged_histogram(self, size: int) -> np.ndarray:
        """This round's histogram summed over all processes, without the
        samples a distributed sampler added to reach equal shares.

        mmengine's ``DefaultSampler`` gives rank ``r`` of ``W`` the samples
        ``r, r + W, r + 2W, ...`` of the padded index list, so its samples
        beyond the first ``ceil((size - r) / W)`` are padding, and they are
        its last ones (fewer than ``W``), which are still held back.
        """
        rank, world_size = get_dist_info()
        real = min(self._num_swept,
                   max(0, -(-(size - rank) // world_size)))
        padded = self._num_swept - real
        if padded > len(self._recent_histograms):
            raise RuntimeError(
                f'ChangeMetric(threshold_sweep=True): rank {rank} processed '
                f'{self._num_swept} samples of a dataset of {size}, more '
                'padding than mmengine\'s DefaultSampler adds; use that '
                'sampler for validation and testing')
        total = self._histogram.copy()
        for histogram in list(self._recent_histograms)[:len(
                self._recent_histograms) - padded]:
            total += histogram
        total = torch.from_numpy(total)
        all_reduce(total, op='sum')
        return total.numpy()

    def _save_mask(self, sample, pred) -> None:
        """Write ``pred`` as a 0/255 PNG named after the sample's pair."""
        name = osp.splitext(self._pair_name(sample))[0] + '.png'
        pair = (sample_field(sample, 'img_path'),
                sample_field(sample, 'img_path2'))
        previous = self._saved_pairs.setdefault(name, pair)
        if previous != pair:
            raise ValueError(
                f'ChangeMetric cannot save the prediction of pair {pair} as '
                f'{name!r} in {self.output_dir!r}: the prediction of pair '
                f'{previous} was already saved under that name. Give the '
                'pairs distinct file names (basenames of img_path).')
        write_mask(osp.join(self.output_dir, name), pred)

    def evaluate(self, size: int) -> dict:
        """Compute the metrics and start a new round of saved file names.

        Args:
            size (int): Number of samples of the whole dataset; results of
                samples padded by a distributed sampler are dropped.

        Returns:
            dict: See :meth:`compute_metrics`.
        """
        self.last_sweep = self.last_per_image = None
        try:
            if self.format_only:
                # nothing to collect (no counts are kept): skip mmengine's
                # empty-results warning and the gathering across ranks
                self.results.clear()
                return self.compute_metrics([]) if is_main_process() else {}
            # gathered in the same order as self.results (every rank takes
            # part; compute_metrics runs on the main process)
            if self.threshold_sweep:
                self._gathered['histogram'] = self._merged_histogram(size)
            if self.per_image_table:
                self._gathered['names'] = collect_results(
                    self._pair_names, size, self.collect_device)
            return super().evaluate(size)
        finally:
            self._saved_pairs.clear()
            self._histogram[:] = 0
            self._recent_histograms.clear()
            self._num_swept = 0
            self._pair_names.clear()
            self._gathered = {}

    def compute_metrics(self, results: List[np.ndarray]) -> Dict[str, float]:
        """Sum the per-sample counts and compute the scores.

        Args:
            results (list[np.ndarray]): The ``[TP, FP, FN, TN]`` records of
                all samples.

        Returns:
            dict[str, float]: ``Precision``, ``Recall``, ``F1``, ``IoU``,
            ``OA`` and ``Kappa`` as fractions, or ``{}`` when
            ``format_only``.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        if self.format_only:
            print_log(
                f'change masks are saved to {self.output_dir}', logger=logger)
            return OrderedDict()
        counts = np.zeros(len(COUNT_NAMES), dtype=np.int64)
        for record in results:
            counts += np.asarray(record, dtype=np.int64)
        metrics = change_metrics_from_counts(*counts.tolist())

        table = PrettyTable()
        for name in METRIC_NAMES:
            table.add_column(name, [f'{metrics[name]:.4f}'])
        count_text = ', '.join(
            f'{name}={value}' for name, value in zip(COUNT_NAMES, counts))
        print_log(
            f'change detection results over {len(results)} samples:\n'
            f'{table.get_string()}\nconfusion counts: {count_text}',
            logger=logger)

        if self.threshold_sweep:
            histogram = self._gathered.get('histogram')
            if histogram is None:  # called directly, not through evaluate
                histogram = np.zeros((2, self.num_bins), dtype=np.int64)
            self.last_sweep = sweep_thresholds(histogram)
            for key in ('MaxF', 'MaxF_threshold', 'MaxF_Precision',
                        'MaxF_Recall', 'AP'):
                metrics[key] = self.last_sweep[key]
            print_log(
                'threshold sweep over the change probability: '
                f'MaxF {metrics["MaxF"]:.4f} at p > '
                f'{metrics["MaxF_threshold"]:.4f} (Precision '
                f'{metrics["MaxF_Precision"]:.4f}, Recall '
                f'{metrics["MaxF_Recall"]:.4f}), AP {metrics["AP"]:.4f}',
                logger=logger)
        if self.per_image_table:
            names = self._gathered.get('names')
            if names is None or len(names) != len(results):
                names = [str(i) for i in range(len(results))]
            self.last_per_image = list(zip(names, results))
        return metrics
