"""ChangeMetric against hand-computed confusion matrices.

Expected scores are written down by hand as exact fractions; the metric
turns each score into a float with one correctly rounded integer division,
so the comparisons are exact (``==``), not approximate.
"""
import math
import os.path as osp
from fractions import Fraction

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from PIL import Image

import mmcd  # noqa: F401
from mmcd.evaluation import ChangeMetric
from mmcd.registry import METRICS

KEYS = ('Precision', 'Recall', 'F1', 'IoU', 'OA', 'Kappa')


def make_sample(pred, gt=None, name='pair.png', dir_a='A', dir_b='B'):
    """A SegDataSample with the mmcd data convention."""
    pred = torch.as_tensor(np.asarray(pred), dtype=torch.int64)[None]
    sample = SegDataSample()
    sample.set_metainfo(
        dict(
            img_path=osp.join(dir_a, name),
            img_path2=osp.join(dir_b, name),
            seg_map_path=osp.join('label', name),
            ori_shape=tuple(pred.shape[-2:])))
    sample.pred_sem_seg = PixelData(data=pred)
    if gt is not None:
        sample.gt_sem_seg = PixelData(
            data=torch.as_tensor(np.asarray(gt), dtype=torch.int64)[None])
    return sample


def run_metric(samples, **kwargs):
    """Process samples the way the Evaluator does (dicts) and evaluate."""
    metric = ChangeMetric(**kwargs)
    metric.process({}, [s.to_dict() for s in samples])
    return metric.evaluate(len(samples))


def expected(**fractions):
    return {k: float(fractions[k]) for k in KEYS}


# Example 1, one image (2x4):
#   gt   1 1 0 0    pred 1 0 1 0
#        1 0 0 0         1 0 0 0
# TP = 2 ((0,0), (1,0)), FP = 1 ((0,2)), FN = 1 ((0,1)), TN = 4, N = 8.
# Precision = 2/3, Recall = 2/3, F1 = 2*2/(2*2+1+1) = 2/3,
# IoU = 2/(2+1+1) = 1/2, OA = 6/8 = 3/4,
# p_e = (3/8)(3/8) + (5/8)(5/8) = 34/64 = 17/32,
# Kappa = (3/4 - 17/32) / (1 - 17/32) = (7/32) / (15/32) = 7/15.
EX1_GT = [[1, 1, 0, 0], [1, 0, 0, 0]]
EX1_PRED = [[1, 0, 1, 0], [1, 0, 0, 0]]
EX1 = expected(
    Precision=Fraction(2, 3),
    Recall=Fraction(2, 3),
    F1=Fraction(2, 3),
    IoU=Fraction(1, 2),
    OA=Fraction(3, 4),
    Kappa=Fraction(7, 15))


def test_example_1_hand_computed():
    metrics = run_metric([make_sample(EX1_PRED, EX1_GT)])
    assert metrics == EX1
    assert list(metrics) == list(KEYS)  # top-level keys, no prefix


# Example 2, two images with ignore (255) pixels, global counts:
# image 1 (2x3):
#   gt   1 255   0    pred 1 1 1
#        0   1 255         0 0 0
#   (0,0) TP, (0,1) ignored (though predicted changed), (0,2) FP,
#   (1,0) TN, (1,1) FN, (1,2) ignored  -> TP 1, FP 1, FN 1, TN 1
# image 2 (2x3):
#   gt   0 0 0    pred 0 0 1
#        0 0 1         0 0 1
#   -> TP 1, FP 1, FN 0, TN 4
# total: TP 2, FP 2, FN 1, TN 5, N = 10
# Precision = 2/4 = 1/2, Recall = 2/3, F1 = 4/(4+2+1) = 4/7,
# IoU = 2/5, OA = 7/10,
# p_e = (4/10)(3/10) + (6/10)(7/10) = (12 + 42)/100 = 54/100,
# Kappa = (70/100 - 54/100) / (46/100) = 16/46 = 8/23.
EX2 = [([[1, 1, 1], [0, 0, 0]], [[1, 255, 0], [0, 1, 255]]),
       ([[0, 0, 1], [0, 0, 1]], [[0, 0, 0], [0, 0, 1]])]
EX2_EXPECTED = expected(
    Precision=Fraction(1, 2),
    Recall=Fraction(2, 3),
    F1=Fraction(4, 7),
    IoU=Fraction(2, 5),
    OA=Fraction(7, 10),
    Kappa=Fraction(8, 23))


def test_example_2_ignore_pixels_and_global_counts():
    samples = [
        make_sample(p, g, name=f'{i}.png') for i, (p, g) in enumerate(EX2)
    ]
    assert run_metric(samples) == EX2_EXPECTED
    # per-sample records: exactly the hand counts, int64
    metric = ChangeMetric()
    metric.process({}, [s.to_dict() for s in samples])
    assert [r.tolist() for r in metric.results] == [[1, 1, 1, 1],
                                                    [1, 1, 0, 4]]
    assert all(r.dtype == np.int64 and r.shape == (4, )
               for r in metric.results)


def test_global_differs_from_per_image_average():
    # image A (1x2): gt 1 0, pred 1 0 -> TP 1, TN 1, F1 = 1
    # image B (1x4): gt 1 0 0 0, pred 1 1 1 1 -> TP 1, FP 3, F1 = 2/5
    # per-image mean F1 = (1 + 2/5) / 2 = 7/10
    # global: TP 2, FP 3, FN 0, TN 1 -> F1 = 4/(4+3) = 4/7,
    #   Precision 2/5, Recall 1, IoU 2/5, OA 3/6 = 1/2,
    #   p_e = (5/6)(2/6) + (1/6)(4/6) = 14/36, Kappa = (1/2-14/36)/(22/36)
    #   = (4/36)/(22/36) = 2/11
    samples = [
        make_sample([[1, 0]], [[1, 0]], name='a.png'),
        make_sample([[1, 1, 1, 1]], [[1, 0, 0, 0]], name='b.png')
    ]
    metrics = run_metric(samples)
    assert metrics['F1'] == float(Fraction(4, 7))
    assert metrics['F1'] != float(Fraction(7, 10))
    assert metrics == expected(
        Precision=Fraction(2, 5),
        Recall=Fraction(1),
        F1=Fraction(4, 7),
        IoU=Fraction(2, 5),
        OA=Fraction(1, 2),
        Kappa=Fraction(2, 11))


@pytest.mark.parametrize(
    'pred, gt, want',
    [
        # nothing changed, nothing predicted: TP=FP=FN=0, TN=4.
        # P, R, F1, IoU are 0/0 -> 0; OA = 1; p_e = 1 -> Kappa 0.
        ([[0, 0], [0, 0]], [[0, 0], [0, 0]],
         dict(Precision=0, Recall=0, F1=0, IoU=0, OA=1, Kappa=0)),
        # change missed entirely: TP 0, FP 0, FN 2, TN 2.
        # P = 0/0 -> 0, R = 0, F1 = 0/2 = 0, IoU = 0, OA = 1/2,
        # p_e = 0*(2/4) + 1*(2/4) = 1/2, Kappa = 0.
        ([[0, 0], [0, 0]], [[1, 1], [0, 0]],
         dict(Precision=0, Recall=0, F1=0, IoU=0, OA=Fraction(1, 2),
              Kappa=0)),
        # false alarms only: TP 0, FP 1, FN 0, TN 3.
        # P = 0, R = 0/0 -> 0, F1 = 0, IoU = 0, OA = 3/4,
        # p_e = (1/4)*0 + (3/4)*1 = 3/4, Kappa = (0)/(1/4) = 0.
        ([[1, 0], [0, 0]], [[0, 0], [0, 0]],
         dict(Precision=0, Recall=0, F1=0, IoU=0, OA=Fraction(3, 4),
              Kappa=0)),
        # every pixel ignored: N = 0, every score 0.
        ([[1, 0], [0, 1]], [[255, 255], [255, 255]],
         dict(Precision=0, Recall=0, F1=0, IoU=0, OA=0, Kappa=0)),
        # all changed, all found: P = R = F1 = IoU = OA = 1, p_e = 1 -> 0.
        ([[1, 1]], [[1, 1]],
         dict(Precision=1, Recall=1, F1=1, IoU=1, OA=1, Kappa=0)),
    ])
def test_zero_division_gives_zero(pred, gt, want):
    metrics = run_metric([make_sample(pred, gt)])
    assert not any(math.isnan(v) for v in metrics.values())
    assert metrics == expected(**{k: Fraction(v) for k, v in want.items()})


def test_no_samples_gives_zero():
    metric = ChangeMetric()
    assert metric.compute_metrics([]) == expected(
        **{k: Fraction(0)
           for k in KEYS})


def random_samples(n=7, seed=0):
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        h, w = rng.integers(3, 9, size=2)
        gt = rng.integers(0, 2, size=(h, w))
        gt[rng.random((h, w)) < 0.1] = 255
        pred = rng.integers(0, 2, size=(h, w))
        samples.append(make_sample(pred, gt, name=f'{i}.png'))
    return samples


def test_identical_across_process_splits_and_orders():
    samples = random_samples()
    whole = run_metric(samples)

    # two "ranks" each process a part; rank 0 then computes on the gathered
    # records, in either order, as mmengine's collect_results would
    rank0, rank1 = ChangeMetric(), ChangeMetric()
    rank0.process({}, [s.to_dict() for s in samples[0::2]])
    rank1.process({}, [s.to_dict() for s in samples[1::2]])
    gathered = rank0.results + rank1.results
    assert rank0.compute_metrics(gathered) == whole
    assert rank1.compute_metrics(gathered[::-1]) == whole

    # batches of different sizes through the Evaluator (SegDataSample ->
    # dict conversion included)
    evaluator = Evaluator(METRICS.build(dict(type='ChangeMetric')))
    for batch in (samples[:1], samples[1:5], samples[5:]):
        evaluator.process(batch)
    assert evaluator.evaluate(len(samples)) == whole


def test_evaluate_size_drops_padding_and_resets():
    samples = random_samples(n=5, seed=1)
    metric = ChangeMetric()
    # a distributed sampler pads with repeats of the first samples; one
    # record per sample lets evaluate(size) drop them
    metric.process({}, [s.to_dict() for s in samples + samples[:2]])
    padded = metric.evaluate(len(samples))
    assert metric.results == []
    assert padded == run_metric(samples)
    # the next round starts from scratch
    metric.process({}, [s.to_dict() for s in samples[:1]])
    assert metric.evaluate(1) == run_metric(samples[:1])


def test_accepts_data_elements_and_logs_counts(capsys):
    from mmengine.logging import MMLogger
    MMLogger.get_instance('test_change_metric', log_level='INFO')
    metric = ChangeMetric()
    metric.process({}, [make_sample(EX1_PRED, EX1_GT)])  # not to_dict()
    assert metric.evaluate(1) == EX1
    out = capsys.readouterr()
    text = out.out + out.err
    assert 'TP=2, FP=1, FN=1, TN=4' in text
    assert 'Kappa' in text and '0.4667' in text


def test_invalid_masks_raise():
    with pytest.raises(ValueError, match='0/255'):
        run_metric([make_sample([[1, 0]], [[255, 128]])])
    with pytest.raises(ValueError, match='prediction must hold only'):
        run_metric([make_sample([[2, 0]], [[1, 0]])])
    with pytest.raises(ValueError, match='original image size'):
        run_metric([make_sample([[1, 0]], [[1, 0, 0]])])


# ---------------------------------------------------------- output_dir --


def read_png(path):
    with Image.open(path) as img:
        assert img.mode == 'L'
        return np.array(img)


def test_output_dir_writes_0_255_masks_named_by_pair(tmp_path):
    out_dir = tmp_path / 'out' / 'nested'
    pred1 = np.array([[1, 0, 1], [0, 0, 1]])
    pred2 = np.array([[0, 0], [1, 1]])
    samples = [
        make_sample(pred1, [[1, 0, 0], [0, 255, 1]], name='test_1.tif'),
        make_sample(pred2, [[0, 0], [1, 0]], name='test_2.jpg')
    ]
    metric = ChangeMetric(output_dir=str(out_dir))
    assert out_dir.is_dir()
    metric.process({}, [s.to_dict() for s in samples])
    assert sorted(p.name for p in out_dir.iterdir()) == [
        'test_1.png', 'test_2.png'
    ]
    np.testing.assert_array_equal(
        read_png(out_dir / 'test_1.png'), [[255, 0, 255], [0, 0, 255]])
    np.testing.assert_array_equal(
        read_png(out_dir / 'test_2.png'), [[0, 0], [255, 255]])
    # metrics are still computed
    assert set(metric.evaluate(2)) == set(KEYS)
    # a new round may rewrite the same pairs' files
    metric.process({}, [s.to_dict() for s in samples])


def test_output_dir_refuses_duplicate_basenames(tmp_path):
    metric = ChangeMetric(output_dir=str(tmp_path))
    first = make_sample([[1]], [[1]], name='tile.png', dir_a='cityA/A')
    again = make_sample([[1]], [[1]], name='tile.png', dir_a='cityA/A')
    other = make_sample([[0]], [[1]], name='tile.tif', dir_a='cityB/A')
    metric.process({}, [first.to_dict(), again.to_dict()])  # same pair: ok
    with pytest.raises(ValueError) as err:
        metric.process({}, [other.to_dict()])
    assert osp.join('cityA/A', 'tile.png') in str(err.value)
    assert osp.join('cityB/A', 'tile.tif') in str(err.value)
    # the first pair's mask was not overwritten
    np.testing.assert_array_equal(read_png(tmp_path / 'tile.png'), [[255]])


def test_format_only_without_gt(tmp_path):
    samples = [
        make_sample([[0, 1]], name='u1.png'),
        make_sample([[1, 1]], name='u2.png')
    ]
    evaluator = Evaluator(
        ChangeMetric(output_dir=str(tmp_path), format_only=True))
    evaluator.process(samples)
    assert evaluator.evaluate(2) == {}
    np.testing.assert_array_equal(read_png(tmp_path / 'u1.png'), [[0, 255]])
    np.testing.assert_array_equal(read_png(tmp_path / 'u2.png'), [[255, 255]])


def test_format_only_needs_output_dir():
    with pytest.raises(ValueError, match='output_dir'):
        ChangeMetric(format_only=True)


def test_missing_gt_without_format_only_raises():
    metric = ChangeMetric()
    with pytest.raises(ValueError, match='format_only'):
        metric.process({}, [make_sample([[0, 1]]).to_dict()])


def test_keep_results_from_test_script_is_accepted(tmp_path):
    metric = METRICS.build(
        dict(type='ChangeMetric', output_dir=str(tmp_path),
             keep_results=True))
    assert metric.output_dir == str(tmp_path)
