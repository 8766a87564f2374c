"""Pure functions of binary change-detection evaluation: confusion counts,
scores, the per-pixel probability of change and the threshold sweep."""
from collections import OrderedDict
from typing import Dict

import numpy as np
import torch


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

    The one definition used by :class:`~mmcd.evaluation.ChangeMetric` and
    the inferencer. Accepts what mmseg's
    ``EncoderDecoder.postprocess_result`` stores:

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
            'the change probability needs the seg_logits of a binary change '
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
