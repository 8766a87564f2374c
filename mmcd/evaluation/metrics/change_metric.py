"""Binary change-detection metric with the papers' global protocol."""
import csv
import json
import logging
import os
import os.path as osp
from collections import OrderedDict, deque
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import (all_reduce, collect_results, get_dist_info,
                           is_main_process)
from mmengine.evaluator import BaseMetric
from mmengine.logging import MessageHub, MMLogger, print_log
from PIL import Image
from prettytable import PrettyTable

from mmcd.registry import METRICS
from mmcd.utils.data_sample import pixel_data, sample_field

#: Order of the four counts in every per-sample record and in the totals.
COUNT_NAMES = ('TP', 'FP', 'FN', 'TN')

#: Order of the reported scores.
METRIC_NAMES = ('Precision', 'Recall', 'F1', 'IoU', 'OA', 'Kappa')


def _to_numpy(data) -> np.ndarray:
    """A mask (tensor or array, any device) as a numpy array, with a leading
    channel axis of size 1 dropped."""
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().numpy()
    data = np.asarray(data)
    return data[0] if data.ndim == 3 and data.shape[0] == 1 else data


def change_confusion(pred, gt, ignore_index: int = 255) -> np.ndarray:
    """Binary confusion counts of one change map.

    This is the single counting primitive of :class:`ChangeMetric`; a later
    extension (e.g. a score histogram for a threshold sweep / MaxF) can sit
    beside it and be summed the same way.

    Args:
        pred (Tensor | np.ndarray): Predicted mask, ``(H, W)`` or
            ``(1, H, W)``, with 0 = unchanged and 1 = changed.
        gt (Tensor | np.ndarray): Ground truth of the same shape, with
            0 = unchanged, 1 = changed and ``ignore_index`` = not evaluated.
        ignore_index (int): Label of ground-truth pixels that are excluded
            from all four counts. Defaults to 255.

    Returns:
        np.ndarray: ``int64`` array ``[TP, FP, FN, TN]`` (see
        :data:`COUNT_NAMES`), the change class being the positive class.

    Raises:
        ValueError: If the shapes differ or a mask holds a value outside
            ``{0, 1}`` (``{0, 1, ignore_index}`` for ``gt``); for instance a
            0/255 ground truth that was not converted to 0/1.
    """
    pred = _to_numpy(pred)
    gt = _to_numpy(gt)
    if pred.shape != gt.shape:
        raise ValueError(
            f'prediction shape {pred.shape} differs from ground-truth shape '
            f'{gt.shape}; predictions must be at the original image size')
    bad_pred = np.setdiff1d(np.unique(pred), [0, 1])
    if bad_pred.size:
        raise ValueError(
            'a change prediction must hold only 0 (unchanged) and 1 '
            f'(changed); found {bad_pred.tolist()}')
    bad_gt = np.setdiff1d(np.unique(gt), [0, 1, ignore_index])
    if bad_gt.size:
        raise ValueError(
            'a change ground truth must hold only 0 (unchanged), 1 (changed) '
            f'and {ignore_index} (ignore); found {bad_gt.tolist()} (was a '
            '0/255 label map loaded without converting 255 to 1?)')
    valid = gt != ignore_index
    pred_pos = (pred == 1) & valid
    gt_pos = (gt == 1) & valid
    tp = np.count_nonzero(pred_pos & gt_pos)
    fp = np.count_nonzero(pred_pos) - tp
    fn = np.count_nonzero(gt_pos) - tp
    tn = np.count_nonzero(valid) - tp - fp - fn
    return np.array([tp, fp, fn, tn], dtype=np.int64)


def _ratio(num: int, den: int) -> float:
    """``num / den`` for Python ints (one correctly rounded division), 0 if
    ``den`` is 0."""
    return num / den if den else 0.0


def change_metrics_from_counts(tp: int, fp: int, fn: int,
                               tn: int) -> Dict[str, float]:
    """Change-class scores from global confusion counts.

    Every score is one exact integer ratio (Python ints, so no overflow and
    no accumulated rounding), turned into a float by a single division:

    - ``Precision = TP / (TP + FP)``
    - ``Recall = TP / (TP + FN)``
    - ``F1 = 2 TP / (2 TP + FP + FN)``
    - ``IoU = TP / (TP + FP + FN)``
    - ``OA = (TP + TN) / N``
    - ``Kappa = (N (TP + TN) - S) / (N^2 - S)`` with
      ``S = (TP + FP)(TP + FN) + (FN + TN)(FP + TN)``, i.e. Cohen's
      ``(p_o - p_e) / (1 - p_e)`` multiplied through by ``N^2``.

    A zero denominator gives 0 instead of NaN: no change predicted
    (Precision 0), no change in the ground truth (Recall 0), neither (F1 and
    IoU 0), no valid pixel (OA 0), or chance agreement ``p_e = 1`` because
    both maps are constant and identical (Kappa 0).

    Args:
        tp (int): Changed pixels predicted as changed.
        fp (int): Unchanged pixels predicted as changed.
        fn (int): Changed pixels predicted as unchanged.
        tn (int): Unchanged pixels predicted as unchanged.

    Returns:
        dict[str, float]: ``Precision``, ``Recall``, ``F1``, ``IoU``, ``OA``
        and ``Kappa`` as fractions (``Kappa`` lies in [-1, 1], the others in
        [0, 1]).
    """
    tp, fp, fn, tn = int(tp), int(fp), int(fn), int(tn)
    n = tp + fp + fn + tn
    chance = (tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)
    return OrderedDict(
        Precision=_ratio(tp, tp + fp),
        Recall=_ratio(tp, tp + fn),
        F1=_ratio(2 * tp, 2 * tp + fp + fn),
        IoU=_ratio(tp, tp + fp + fn),
        OA=_ratio(tp + tn, n),
        Kappa=_ratio(n * (tp + tn) - chance, n * n - chance))


def change_probability(seg_logits) -> np.ndarray:
    """Per-pixel probability of change from a binary model's ``seg_logits``.

    Accepts what mmseg's ``EncoderDecoder.postprocess_result`` stores:

    - 2 channels (softmax models): raw logits; the result is the softmax
      probability of class 1, ``sigmoid(l1 - l0)``, so ``p > 0.5`` is
      exactly the argmax prediction;
    - 1 channel (sigmoid models and distance heads such as
      :class:`~mmcd.models.MetricHead`, whose logit is
      ``distance - distance_threshold``): the already applied sigmoid,
      taken as is, so ``p > decode_head.threshold`` is the prediction.

    Args:
        seg_logits (Tensor | np.ndarray): ``(C, H, W)`` with ``C`` 1 or 2.

    Returns:
        np.ndarray: ``float64`` ``(H, W)`` probabilities in ``[0, 1]``.

    Raises:
        ValueError: For another number of channels, or 1-channel values
            outside ``[0, 1]`` (raw logits instead of probabilities).
    """
    if isinstance(seg_logits, np.ndarray):
        seg_logits = torch.from_numpy(seg_logits)
    logits = seg_logits.detach().cpu().double()
    if logits.dim() != 3 or logits.size(0) not in (1, 2):
        raise ValueError(
            'the threshold sweep needs the seg_logits of a binary change '
            'model, (2, H, W) softmax logits or (1, H, W) sigmoid '
            f'probabilities; got shape {tuple(logits.shape)}')
    if logits.size(0) == 2:
        return torch.sigmoid(logits[1] - logits[0]).numpy()
    prob = logits[0]
    if prob.numel() and (prob.min() < 0 or prob.max() > 1):
        raise ValueError(
            '1-channel seg_logits must be probabilities in [0, 1] (mmseg\'s '
            'EncoderDecoder stores sigmoid(logit)); got values in '
            f'[{prob.min().item():.4g}, {prob.max().item():.4g}]')
    return prob.numpy()


def score_histogram(prob, gt, num_bins: int,
                    ignore_index: int = 255) -> np.ndarray:
    """Histograms of the change probability of unchanged and changed pixels.

    Bin ``k`` holds the probabilities in ``(k / n, (k + 1) / n]`` (bin 0
    also holds 0), so the pixels with ``p > k / n`` are exactly those of
    bins ``k .. n - 1``: the sweep's threshold ``k / n`` means
    ``p > k / n``, like mmseg's ``sigmoid > threshold``.

    Args:
        prob (np.ndarray): ``(H, W)`` probabilities of change.
        gt (Tensor | np.ndarray): Ground truth, 0 / 1 / ``ignore_index``.
        num_bins (int): Number of bins ``n`` over ``[0, 1]``.
        ignore_index (int): Ground-truth label left out. Defaults to 255.

    Returns:
        np.ndarray: ``int64`` ``(2, num_bins)``: row 0 unchanged pixels,
        row 1 changed pixels.
    """
    gt = _to_numpy(gt)
    if prob.shape != gt.shape:
        raise ValueError(
            f'seg_logits shape {prob.shape} differs from ground-truth shape '
            f'{gt.shape}; scores must be at the original image size')
    valid = gt != ignore_index
    bins = np.clip(np.ceil(prob[valid] * num_bins) - 1, 0,
                   num_bins - 1).astype(np.int64)
    return np.bincount(
        bins + num_bins * (gt[valid] == 1), minlength=2 * num_bins).reshape(
            2, num_bins).astype(np.int64)


def sweep_thresholds(histogram: np.ndarray) -> Dict[str, object]:
    """Precision-recall curve, MaxF and average precision from histograms.

    For each threshold ``t_k = k / n`` (``k = 0 .. n - 1``; see
    :func:`score_histogram`) the pixels of bins ``>= k`` are predicted as
    changed: ``TP_k`` and ``FP_k`` are the changed and unchanged pixels
    there, ``FN_k = P - TP_k`` with ``P`` all changed pixels.
    ``Precision_k = TP_k / (TP_k + FP_k)``, ``Recall_k = TP_k / P``,
    ``F1_k = 2 TP_k / (2 TP_k + FP_k + FN_k)`` (each one division of exact
    integers; 0 for 0/0). ``MaxF`` is the largest ``F1_k`` (at the lowest
    such threshold), and ``AP = sum_k (Recall_k - Recall_{k+1})
    Precision_k`` with ``Recall_n = 0``: the step-wise area under the
    precision-recall curve, as scikit-learn's ``average_precision_score``
    computes it at these thresholds.

    Args:
        histogram (np.ndarray): ``(2, n)`` counts of unchanged (row 0) and
            changed (row 1) pixels per bin.

    Returns:
        dict: ``MaxF``, ``MaxF_threshold``, ``MaxF_Precision``,
        ``MaxF_Recall``, ``AP`` (floats) and the curve: ``thresholds``,
        ``precision``, ``recall``, ``f1`` (lists of ``n`` floats).
    """
    histogram = np.asarray(histogram, dtype=np.int64)
    num_bins = histogram.shape[1]
    # counts at or above each bin: reversed cumulative sums
    fp = np.cumsum(histogram[0, ::-1])[::-1]
    tp = np.cumsum(histogram[1, ::-1])[::-1]
    positives = int(histogram[1].sum())

    def ratio(num, den):
        return np.divide(num, den, out=np.zeros(num_bins),
                         where=den > 0)

    precision = ratio(tp, tp + fp)
    recall = ratio(tp, np.full(num_bins, positives))
    f1 = ratio(2 * tp, tp + fp + positives)
    best = int(np.argmax(f1))
    recall_next = np.append(recall[1:], 0.0)
    return OrderedDict(
        MaxF=float(f1[best]),
        MaxF_threshold=best / num_bins,
        MaxF_Precision=float(precision[best]),
        MaxF_Recall=float(recall[best]),
        AP=float(np.sum((recall - recall_next) * precision)),
        thresholds=(np.arange(num_bins) / num_bins).tolist(),
        precision=precision.tolist(),
        recall=recall.tolist(),
        f1=f1.tolist())


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
    scores and the raw counts is written to the log.

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
            number of processes. At each evaluation the curve is written as
            ``pr_curve_<stage>.json`` and ``pr_curve_<stage>.png`` into
            ``report_dir``. Defaults to False.
        num_bins (int): Number of histogram bins (thresholds ``k /
            num_bins``) of the sweep. Defaults to 1000.
        per_image_table (bool): Also write ``per_image_<stage>.csv`` into
            ``report_dir``: Precision, Recall, F1, IoU and the counts of
            each pair (named by the basename of ``img_path``), worst F1
            first; a score that is 0/0 for that image is left empty (an
            empty F1 means no change in the ground truth nor in the
            prediction; those rows come last). ``tools/test.py`` switches
            it on. Defaults to False.
        report_dir (str, optional): Directory of the sweep and per-image
            files. Defaults to None: the log directory of the running
            :class:`~mmengine.runner.Runner` (``work_dir/<timestamp>``,
            found through the current logger's log file); without one the
            files are not written (a warning says so). ``<stage>`` is
            ``val_iter_<N>`` during training, ``test`` in a test run; an
            existing file is never overwritten (a ``_1``, ``_2``... suffix
            is added).
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
                 per_image_table: bool = False,
                 report_dir: Optional[str] = None) -> None:
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
        self.report_dir = report_dir
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
                        f'`gt_sem_seg` (img_path={sample_field(sample, "img_path")}'
                        '); to only save the predictions of an unlabelled '
                        'test set use ChangeMetric(format_only=True, '
                        'output_dir=...)')
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
        pair = (sample_field(sample, 'img_path'), sample_field(sample, 'img_path2'))
        previous = self._saved_pairs.setdefault(name, pair)
        if previous != pair:
            raise ValueError(
                f'ChangeMetric cannot save the prediction of pair {pair} as '
                f'{name!r} in {self.output_dir!r}: the prediction of pair '
                f'{previous} was already saved under that name. Give the '
                'pairs distinct file names (basenames of img_path).')
        mask = _to_numpy(pred)
        if mask.ndim != 2:
            raise ValueError('a change prediction must be (H, W) or '
                             f'(1, H, W); got shape {mask.shape}')
        os.makedirs(self.output_dir, exist_ok=True)
        Image.fromarray(np.where(mask == 1, 255, 0).astype(np.uint8),
                        mode='L').save(osp.join(self.output_dir, name))

    def evaluate(self, size: int) -> dict:
        """Compute the metrics and start a new round of saved file names.

        Args:
            size (int): Number of samples of the whole dataset; results of
                samples padded by a distributed sampler are dropped.

        Returns:
            dict: See :meth:`compute_metrics`.
        """
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

        report_dir = None
        if self.threshold_sweep or self.per_image_table:
            report_dir = self._report_dir()
            stage = self._stage_name()
        if self.threshold_sweep:
            histogram = self._gathered.get('histogram')
            if histogram is None:  # called directly, not through evaluate
                histogram = np.zeros((2, self.num_bins), dtype=np.int64)
            sweep = sweep_thresholds(histogram)
            for key in ('MaxF', 'MaxF_threshold', 'MaxF_Precision',
                        'MaxF_Recall', 'AP'):
                metrics[key] = sweep[key]
            print_log(
                'threshold sweep over the change probability: '
                f'MaxF {sweep["MaxF"]:.4f} at p > '
                f'{sweep["MaxF_threshold"]:.4f} (Precision '
                f'{sweep["MaxF_Precision"]:.4f}, Recall '
                f'{sweep["MaxF_Recall"]:.4f}), AP {sweep["AP"]:.4f}',
                logger=logger)
            if report_dir is not None:
                self._write_pr_curve(sweep, report_dir, stage)
        if self.per_image_table and report_dir is not None:
            names = self._gathered.get('names')
            if names is None or len(names) != len(results):
                names = [str(i) for i in range(len(results))]
            self._write_per_image_table(names, results, report_dir, stage)
        return metrics

    def _report_dir(self) -> Optional[str]:
        """``report_dir``, else the running Runner's log dir (the directory
        of the current logger's log file), else None (with a warning)."""
        if self.report_dir is not None:
            return self.report_dir
        logger = MMLogger.get_current_instance()
        for handler in logger.handlers:
            if isinstance(handler, logging.FileHandler):
                return osp.dirname(handler.baseFilename)
        print_log(
            'ChangeMetric: no report_dir and no run log dir, so the '
            'PR-curve / per-image files are not written',
            logger=logger, level=logging.WARNING)
        return None

    @staticmethod
    def _stage_name() -> str:
        """``test`` in a test run, ``val_iter_<N>`` after ``N`` training
        iterations."""
        hub = MessageHub.get_current_instance()
        stage, last_iter = hub.get_info('loop_stage'), hub.get_info('iter')
        if stage is None or stage == 'test' or last_iter is None:
            return stage or 'eval'
        # `iter` is the index of the last started training iteration
        return f'{stage}_iter_{last_iter + 1}'

    @staticmethod
    def _new_path(directory: str, stem: str, suffix: str) -> str:
        """``directory/stem.suffix``, or with ``_1``, ``_2``... appended
        when that file exists: nothing is overwritten."""
        os.makedirs(directory, exist_ok=True)
        path, n = osp.join(directory, stem + suffix), 0
        while osp.exists(path):
            n += 1
            path = osp.join(directory, f'{stem}_{n}{suffix}')
        return path

    def _write_pr_curve(self, sweep: dict, report_dir: str,
                        stage: str) -> None:
        """``pr_curve_<stage>.json`` (scores and curve) and ``.png``."""
        json_path = self._new_path(report_dir, f'pr_curve_{stage}', '.json')
        with open(json_path, 'w') as f:
            json.dump(dict(sweep, num_bins=self.num_bins,
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
                  logger=MMLogger.get_current_instance())

    def _write_per_image_table(self, names: List[str],
                               results: List[np.ndarray], report_dir: str,
                               stage: str) -> None:
        """``per_image_<stage>.csv``, worst F1 first."""
        rows = []
        for name, counts in zip(names, results):
            tp, fp, fn, tn = (int(c) for c in counts)
            dens = dict(Precision=tp + fp, Recall=tp + fn,
                        F1=2 * tp + fp + fn, IoU=tp + fp + fn)
            scores = change_metrics_from_counts(tp, fp, fn, tn)
            row = {k: (scores[k] if dens[k] else None) for k in dens}
            rows.append((name, row, (tp, fp, fn, tn)))
        # undefined F1 (nothing to find, nothing found) last
        rows.sort(key=lambda r: (r[1]['F1'] is None, r[1]['F1'] or 0, r[0]))
        path = self._new_path(report_dir, f'per_image_{stage}', '.csv')
        with open(path, 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(['pair', 'Precision', 'Recall', 'F1', 'IoU'] +
                            list(COUNT_NAMES))
            for name, row, counts in rows:
                writer.writerow(
                    [name] +
                    ['' if v is None else f'{v:.6f}' for v in row.values()] +
                    list(counts))
        print_log(f'per-image results written to {path}',
                  logger=MMLogger.get_current_instance())
