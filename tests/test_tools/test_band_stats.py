"""tools/analysis_tools/band_stats.py: per-band statistics for the
data_preprocessor, in bounded memory."""
import re

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from tool_test_utils import load_tool
from raster_helpers import write_tif


@pytest.fixture(scope='module')
def band_stats():
    return load_tool('analysis_tools', 'band_stats.py')


def _dataset(root, num=3, bands=4, size=12, seed=0):
    """uint16 ``bands``-band pairs with band-dependent ranges; returns the
    stacked date-A and date-B arrays."""
    rng = np.random.default_rng(seed)
    scale = np.arange(1, bands + 1) * 1000
    dates = {'A': [], 'B': []}
    for i in range(num):
        for d in dates:
            img = (rng.random((size, size, bands)) * scale).astype(np.uint16)
            write_tif(root / d / f'{i}.tif', img)
            dates[d].append(img)
        label = np.zeros((size, size), np.uint8)
        label[:3, :3] = 255
        (root / 'label').mkdir(exist_ok=True)
        cv2.imwrite(str(root / 'label' / f'{i}.png'), label)
    return np.stack(dates['A']), np.stack(dates['B'])


def _config(tmp_path, root, bands):
    cfg = Config(
        dict(
            default_scope='mmcd',
            train_dataloader=dict(dataset=dict(
                type='ChangeDetectionDataset',
                data_root=str(root),
                img_suffix='.tif',
                data_prefix=dict(
                    img_path='A', img_path2='B', seg_map_path='label'),
                pipeline=[
                    dict(type='LoadImagePairFromFile',
                         bands=bands,
                         dtype='uint16'),
                    dict(type='LoadChangeAnnotation'),
                    # augmentation must not enter the statistics
                    dict(type='RandomCrop', crop_size=(4, 4)),
                    dict(type='PairPhotometricJitter', brightness=0.5),
                    dict(type='PackSegInputs'),
                ]))))
    path = str(tmp_path / 'cfg.py')
    cfg.dump(path)
    return path


def _printed(out, key):
    line = re.search(rf'^\s+{key}=\[(.*)\],$', out, re.M).group(1)
    return np.array([float(v) for v in line.split(',')])


def test_band_stats_pooled_and_per_date(tmp_path, band_stats, capsys):
    root = tmp_path / 'data'
    a, b = _dataset(root)
    cfg = _config(tmp_path, root, [4, 1, 2, 3])
    band_stats.main([cfg])
    out = capsys.readouterr().out
    order = [3, 0, 1, 2]
    both = np.concatenate([a, b]).reshape(-1, 4)[:, order].astype(float)
    mean, std = _printed(out, 'mean'), _printed(out, 'std')
    assert mean.size == 8 and std.size == 8  # 2C values
    np.testing.assert_allclose(mean, np.tile(both.mean(0), 2), rtol=1e-5)
    np.testing.assert_allclose(std, np.tile(both.std(0), 2), rtol=1e-5)
    p2 = np.percentile(both, 2, axis=0, method='inverted_cdf')
    p98 = np.percentile(both, 98, axis=0, method='inverted_cdf')
    rows = re.findall(r'^\s+band (\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)$', out,
                      re.M)
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4]
    np.testing.assert_array_equal([float(r[3]) for r in rows], p2)
    np.testing.assert_array_equal([float(r[4]) for r in rows], p98)
    assert '3 train pairs, 4 bands per date, uint16' in out

    # a no-data value is left out
    band_stats.main([cfg, '--nodata', '0'])
    out = capsys.readouterr().out
    valid = np.where(both > 0, both, np.nan)
    np.testing.assert_allclose(_printed(out, 'mean'),
                               np.tile(np.nanmean(valid, 0), 2),
                               rtol=1e-5)
    assert (both == 0).any()  # the data hold some zeros

    band_stats.main([cfg, '--per-date'])
    out = capsys.readouterr().out
    per_date = np.concatenate(
        [a.reshape(-1, 4)[:, order],
         b.reshape(-1, 4)[:, order]], axis=1)
    np.testing.assert_allclose(_printed(out, 'mean'),
                               per_date.mean(0),
                               rtol=1e-5)
    np.testing.assert_allclose(_printed(out, 'std'),
                               per_date.std(0),
                               rtol=1e-5)


def test_max_samples(tmp_path, band_stats, capsys):
    root = tmp_path / 'data'
    _dataset(root, num=4, bands=2)
    band_stats.main([_config(tmp_path, root, [1, 2]), '--max-samples', '2'])
    assert '2 train pairs' in capsys.readouterr().out


def test_statistics_merge_and_percentiles(band_stats):
    rng = np.random.default_rng(1)
    # int16 with negative values: exact histogram percentiles
    chunks = [
        rng.integers(-3000, 3000, (500, 2)).astype(np.int16) for _ in range(5)
    ]
    stats = band_stats.BandStatistics(2, np.int16)
    for c in chunks:
        stats.update(c)
    data = np.concatenate(chunks).astype(float)
    np.testing.assert_allclose(stats.mean, data.mean(0))
    np.testing.assert_allclose(stats.std, data.std(0))
    for q in (2, 98):
        np.testing.assert_array_equal(
            stats.percentile(q),
            np.percentile(data, q, axis=0, method='inverted_cdf'))
    # float data: percentiles of a bounded reservoir, NaN skipped
    stats = band_stats.BandStatistics(1, np.float32, reservoir=2000)
    values = rng.normal(0.2, 0.05, (50, 1000)).astype(np.float32)
    for row in values:
        row[:3] = np.nan
        stats.update(row[:, None])
    assert stats.samples[0].size == 2000
    finite = values[np.isfinite(values)].astype(float)
    np.testing.assert_allclose(stats.mean, finite.mean(), rtol=1e-6)
    np.testing.assert_allclose(stats.std, finite.std(), rtol=1e-6)
    for q in (2, 98):
        assert abs(stats.percentile(q)[0] - np.percentile(finite, q)) < 0.01


def test_loading_only(band_stats):
    cfg = dict(type='RepeatDataset',
               times=10,
               dataset=dict(type='X',
                            pipeline=[
                                dict(type='LoadImagePairFromFile'),
                                dict(type='LoadChangeAnnotation'),
                                dict(type='RandomFlip', prob=0.5)
                            ]))
    assert band_stats.loading_only(cfg) == dict(
        type='X', pipeline=[dict(type='LoadImagePairFromFile')])
    with pytest.raises(ValueError, match='no loading transform'):
        band_stats.loading_only(
            dict(type='X', pipeline=[dict(type='RandomFlip')]))
