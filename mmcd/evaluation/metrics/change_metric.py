"""Binary change-detection metric with the papers' global protocol."""
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from PIL import Image
from prettytable import PrettyTable

from mmcd.registry import METRICS

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


def _field(sample, key: str):
    """``sample[key]`` for a dict sample, attribute/metainfo otherwise;
    ``None`` when absent."""
    if isinstance(sample, dict):
        return sample.get(key)
    return getattr(sample, key, None)


def _mask_data(field):
    """The ``data`` of a ``PixelData`` or of its ``to_dict()`` form."""
    if field is None:
        return None
    if isinstance(field, dict):
        return field.get('data')
    return getattr(field, 'data', field)


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
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 ignore_index: int = 255,
                 output_dir: Optional[str] = None,
                 format_only: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None,
                 keep_results: bool = False) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)
        if format_only and not output_dir:
            raise ValueError(
                'ChangeMetric(format_only=True) only saves the predicted '
                'masks, so it needs an `output_dir` (e.g. tools/test.py '
                '--out DIR)')
        self.ignore_index = ignore_index
        self.output_dir = output_dir
        self.format_only = format_only
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
            pred = _mask_data(_field(sample, 'pred_sem_seg'))
            if pred is None:
                raise KeyError(
                    'ChangeMetric needs `pred_sem_seg` in every data sample')
            if not self.format_only:
                gt = _mask_data(_field(sample, 'gt_sem_seg'))
                if gt is None:
                    raise ValueError(
                        'ChangeMetric got a data sample without '
                        f'`gt_sem_seg` (img_path={_field(sample, "img_path")}'
                        '); to only save the predictions of an unlabelled '
                        'test set use ChangeMetric(format_only=True, '
                        'output_dir=...)')
                self.results.append(
                    change_confusion(pred, gt, self.ignore_index))
            if self.output_dir is not None:
                self._save_mask(sample, pred)

    def _save_mask(self, sample, pred) -> None:
        """Write ``pred`` as a 0/255 PNG named after the sample's pair."""
        img_path = _field(sample, 'img_path')
        if img_path is None:
            raise KeyError('ChangeMetric(output_dir=...) names the saved '
                           'masks after `img_path`, which the sample lacks')
        pair = (img_path, _field(sample, 'img_path2'))
        name = osp.splitext(osp.basename(img_path))[0] + '.png'
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
            return super().evaluate(size)
        finally:
            self._saved_pairs.clear()

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
        return metrics
