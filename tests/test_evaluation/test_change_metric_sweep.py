"""ChangeMetric's threshold sweep (MaxF, AP, PR curve) and per-image counts,
against hand-computed values (the files are ChangeReportHook's, tested in
tests/test_engine/test_change_report_hook.py)."""
import os.path as osp
from fractions import Fraction

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmcd  # noqa: F401
from mmcd.evaluation import ChangeMetric, functional
from mmcd.evaluation.metrics import change_metric as cm


def make_sample(name, gt, pred, seg_logits=None):
    sample = SegDataSample()
    gt = torch.as_tensor(np.asarray(gt), dtype=torch.int64)[None]
    sample.set_metainfo(dict(img_path=osp.join('A', name),
                             img_path2=osp.join('B', name)))
    sample.gt_sem_seg = PixelData(data=gt)
    sample.pred_sem_seg = PixelData(
        data=torch.as_tensor(np.asarray(pred), dtype=torch.int64)[None])
    if seg_logits is not None:
        sample.seg_logits = PixelData(
            data=torch.as_tensor(seg_logits, dtype=torch.float32))
    return sample.to_dict()


# num_bins = 4: bin 0 = [0, 0.25], 1 = (0.25, 0.5], 2 = (0.5, 0.75],
# 3 = (0.75, 1]; threshold k/4 predicts the pixels of bins >= k (p > k/4).
#
# Sample 1, a sigmoid model: p (stored by mmseg as the probability)
#   p  0.1 0.3 0.5  0.6     gt  0 0   1 0
#      0.8 0.9 0.25 1.0         1 1 255 1
#   unchanged: 0.1 -> bin 0, 0.3 -> 1, 0.6 -> 2          -> [1, 1, 1, 0]
#   changed: 0.5 -> 1 (not > 0.5), 0.8, 0.9, 1.0 -> 3      -> [0, 1, 0, 3]
#   (0.25 is ignored)
# Sample 2, a softmax model: logits l0 = 0, l1 = 2, -2, 0, 0.4, so
#   p = sigmoid(l1 - l0) = 0.881, 0.119, 0.5, 0.599; gt 1 0 1 0
#   unchanged: 0.119 -> 0, 0.599 -> 2                       -> [1, 0, 1, 0]
#   changed: 0.881 -> 3, 0.5 -> 1                           -> [0, 1, 0, 1]
# Totals: unchanged [2, 1, 2, 0] (N = 5), changed [0, 2, 0, 4] (P = 6).
#   k  TP FP  Precision  Recall  F1 = 2TP / (2TP + FP + FN)
#   0  6  5   6/11       1       12/17
#   1  6  3   2/3        1       12/15 = 4/5
#   2  4  2   2/3        2/3     8/12 = 2/3
#   3  4  0   1          2/3     8/10 = 4/5
# MaxF = 4/5, first reached at k = 1: threshold 0.25, P 2/3, R 1.
# AP = sum (R_k - R_k+1) P_k = 0 + (1/3)(2/3) + 0 + (2/3)(1) = 8/9.
P1 = [[0.1, 0.3, 0.5, 0.6], [0.8, 0.9, 0.25, 1.0]]
GT1 = [[0, 0, 1, 0], [1, 1, 255, 1]]
LOGITS2 = [[[0, 0, 0, 0]], [[2, -2, 0, 0.4]]]
GT2 = [[1, 0, 1, 0]]


def hand_samples():
    return [
        make_sample('s1.png', GT1, (np.array(P1) > 0.5).astype(int),
                    np.array(P1)[None]),
        make_sample('s2.png', GT2, [[1, 0, 0, 1]], LOGITS2),
    ]


def test_histograms_by_hand():
    h1 = functional.score_histogram(
        functional.change_probability(torch.tensor([P1])), torch.tensor(GT1),
        4)
    assert h1.tolist() == [[1, 1, 1, 0], [0, 1, 0, 3]]
    h2 = functional.score_histogram(
        functional.change_probability(torch.tensor(LOGITS2)),
        torch.tensor(GT2), 4)
    assert h2.tolist() == [[1, 0, 1, 0], [0, 1, 0, 1]]


def test_change_probability_of_arrays_and_tensors():
    logits = np.array(LOGITS2, dtype=np.float32)
    prob = functional.change_probability(logits)
    assert prob.dtype == np.float64
    # sigmoid(l1 - l0) in float64, the softmax probability of class 1
    want = 1 / (1 + np.exp(-(logits[1, 0].astype(np.float64) -
                             logits[0, 0])))
    np.testing.assert_array_equal(prob[0], want)
    np.testing.assert_array_equal(
        functional.change_probability(torch.from_numpy(logits)), prob)
    # one channel: the stored sigmoid as is
    np.testing.assert_array_equal(
        functional.change_probability(np.array([P1])), P1)


def test_maxf_ap_and_curve_by_hand():
    metric = ChangeMetric(threshold_sweep=True, num_bins=4)
    metric.process({}, hand_samples())
    metrics = metric.evaluate(2)
    assert metrics['MaxF'] == float(Fraction(4, 5))
    assert metrics['MaxF_threshold'] == 0.25
    assert metrics['MaxF_Precision'] == float(Fraction(2, 3))
    assert metrics['MaxF_Recall'] == 1.0
    assert metrics['AP'] == pytest.approx(8 / 9, rel=1e-12)
    # the scores at the model's own threshold are still there
    assert {'Precision', 'Recall', 'F1', 'IoU', 'OA', 'Kappa'} <= set(metrics)

    curve = metric.last_sweep
    assert curve['thresholds'] == [0, 0.25, 0.5, 0.75]
    assert curve['precision'] == [
        float(Fraction(6, 11)), float(Fraction(2, 3)),
        float(Fraction(2, 3)), 1.0
    ]
    assert curve['recall'] == [1.0, 1.0, float(Fraction(2, 3)),
                               float(Fraction(2, 3))]
    assert curve['f1'] == [
        float(Fraction(12, 17)), 0.8, float(Fraction(2, 3)), 0.8
    ]
    assert curve['MaxF'] == metrics['MaxF']
    assert metric.last_per_image is None  # per_image_table is off

    # the next evaluation starts from empty histograms
    metric.process({}, hand_samples()[:1])
    again = metric.evaluate(1)
    # sample 1 alone: P = 4; k = 1: TP 4, FP 2 -> F1 8/10; k = 3: TP 3,
    # FP 0 -> 6/7 (the best)
    assert again['MaxF'] == float(Fraction(6, 7))
    assert metric.last_sweep['MaxF'] == again['MaxF']


def test_distributed_shares_with_padding_match_one_process(monkeypatch):
    """3 samples on 2 ranks: DefaultSampler gives rank 0 samples 0, 2 and
    rank 1 samples 1, 0 (padding); the padded repeat must not count."""
    samples = hand_samples() + [
        make_sample('s3.png', [[1, 1]], [[1, 0]], [[[0.7, 0.2]]])
    ]
    single = ChangeMetric(threshold_sweep=True, num_bins=8)
    single.process({}, samples)
    whole = single._merged_histogram(3)

    monkeypatch.setattr(cm, 'all_reduce', lambda data, op: data)
    merged = np.zeros_like(whole)
    for rank, indices in ((0, [0, 2]), (1, [1, 0])):
        monkeypatch.setattr(cm, 'get_dist_info', lambda r=rank: (r, 2))
        metric = ChangeMetric(threshold_sweep=True, num_bins=8)
        metric.process({}, [samples[i] for i in indices])
        merged += metric._merged_histogram(3)
    assert merged.tolist() == whole.tolist()
    assert whole.sum() == 8 + 4 + 2 - 1  # all valid pixels once


def test_scores_must_be_binary_probabilities():
    with pytest.raises(ValueError, match='probabilities'):
        functional.change_probability(torch.tensor([[[1.5, 0.2]]]))
    with pytest.raises(ValueError, match='binary'):
        functional.change_probability(torch.zeros(3, 2, 2))
    metric = ChangeMetric(threshold_sweep=True)
    with pytest.raises(KeyError, match='seg_logits'):
        metric.process({}, [make_sample('x.png', [[1]], [[1]])])


# ---------------------------------------------------- per-image counts --
def test_per_image_counts_in_dataset_order():
    metric = ChangeMetric(per_image_table=True)
    metric.process({}, [
        make_sample('a.png', [[1, 0], [0, 1]], [[1, 0], [1, 1]]),
        make_sample('b.png', [[1, 0]], [[0, 0]]),
        make_sample('c.png', [[0]], [[0]]),
    ])
    metric.evaluate(3)
    assert [(name, counts.tolist()) for name, counts in
            metric.last_per_image] == [('a.png', [2, 1, 0, 1]),
                                       ('b.png', [0, 0, 1, 1]),
                                       ('c.png', [0, 0, 0, 1])]
    assert metric.last_sweep is None  # threshold_sweep is off


def test_metric_writes_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from mmengine.logging import MMLogger
    MMLogger.get_instance('sweep_without_run_dir')  # no log file
    metric = ChangeMetric(threshold_sweep=True, per_image_table=True,
                          num_bins=4)
    metric.process({}, hand_samples())
    assert metric.evaluate(2)['MaxF'] == 0.8
    assert not list(tmp_path.iterdir())
