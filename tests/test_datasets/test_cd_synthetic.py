"""The synthetic CDD-layout writer and its command-line tool."""
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
from cd_test_utils import META_KEYS, build_pipeline

from mmcd.datasets import CDDDataset, write_synthetic_cdd
from mmcd.datasets.synthetic import make_synthetic_pair

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'dataset_converters' / 'make_synthetic_cd.py'


def _files(root):
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob('*')
                  if p.is_file())


def _norm(img):
    img = img.astype(np.float32)
    return (img - img.mean((0, 1))) / (img.std((0, 1)) + 1e-6)


def test_layout_and_dataset(tmp_path):
    counts = write_synthetic_cdd(tmp_path / 'syn', num_train=3, num_val=1,
                                 num_test=0, size=64, seed=0)
    assert counts == dict(train=3, val=1, test=0)
    files = _files(tmp_path / 'syn')
    expected = [f'train/{d}/{i:05d}.jpg' for d in ('A', 'B', 'OUT')
                for i in range(3)]
    expected += [f'val/{d}/00000.jpg' for d in ('A', 'B', 'OUT')]
    assert files == sorted(expected)
    img = cv2.imread(str(tmp_path / 'syn' / 'train' / 'A' / '00000.jpg'))
    assert img.shape == (64, 64, 3)
    ds = CDDDataset(
        data_root=str(tmp_path / 'syn'),
        pipeline=build_pipeline([
            dict(type='LoadImagePairFromFile'),
            dict(type='LoadChangeAnnotation'),
            dict(type='PackSegInputs', meta_keys=META_KEYS)
        ]))
    assert len(ds) == 3
    out = ds[0]
    assert out['inputs'].shape == (6, 64, 64)
    assert set(out['data_samples'].gt_sem_seg.data.unique().tolist()) <= {
        0, 1}


def test_determinism(tmp_path):
    kw = dict(num_train=3, num_val=1, num_test=1, size=48)
    write_synthetic_cdd(tmp_path / 'r1', seed=7, **kw)
    write_synthetic_cdd(tmp_path / 'r2', seed=7, **kw)
    write_synthetic_cdd(tmp_path / 'r3', seed=8, **kw)
    # a pair depends on seed, split and index only, not on the counts
    write_synthetic_cdd(tmp_path / 'r4', seed=7, num_train=2, num_val=0,
                        num_test=0, size=48)
    files = _files(tmp_path / 'r1')
    assert files == _files(tmp_path / 'r2') == _files(tmp_path / 'r3')
    for f in files:
        assert (tmp_path / 'r1' / f).read_bytes() == \
            (tmp_path / 'r2' / f).read_bytes()
    assert any((tmp_path / 'r1' / f).read_bytes() !=
               (tmp_path / 'r3' / f).read_bytes() for f in files)
    for f in _files(tmp_path / 'r4'):
        assert (tmp_path / 'r4' / f).read_bytes() == \
            (tmp_path / 'r1' / f).read_bytes()


@pytest.mark.parametrize('label_format', ['png', 'jpg'])
def test_masks_match_the_generator(tmp_path, label_format):
    write_synthetic_cdd(tmp_path, num_train=4, num_val=0, num_test=0,
                        size=96, seed=3, label_format=label_format)
    for i in range(4):
        _, _, mask = make_synthetic_pair(np.random.default_rng([3, 0, i]),
                                         96)
        raw = cv2.imread(
            str(tmp_path / 'train' / 'OUT' / f'{i:05d}.{label_format}'),
            cv2.IMREAD_GRAYSCALE)
        if label_format == 'png':
            assert set(np.unique(raw)) <= {0, 255}
            np.testing.assert_array_equal(raw >= 128, mask.astype(bool))
        else:
            assert ((raw >= 128) == mask.astype(bool)).mean() > 0.999


def test_masks_are_real_change():
    """Masks are non-trivial and mark where A and B really differ (beyond
    the per-date illumination)."""
    fractions = []
    for i in range(40):
        a, b, m = make_synthetic_pair(np.random.default_rng([0, 0, i]), 64)
        assert a.shape == b.shape == (64, 64, 3) and a.dtype == np.uint8
        assert m.shape == (64, 64) and set(np.unique(m)) <= {0, 1}
        fractions.append(m.mean())
        diff = np.abs(_norm(a) - _norm(b)).mean(2)
        if m.any():
            assert diff[m > 0].mean() > 2 * diff[m == 0].mean()
        # unchanged pixels still differ a bit (illumination, noise)
        assert np.abs(a.astype(int) - b.astype(int))[m == 0].mean() > 1
    fractions = np.array(fractions)
    assert (fractions > 0).mean() > 0.7
    assert 0.01 < fractions.mean() < 0.3


def test_refuses_non_empty_target(tmp_path):
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'sub' / 'keep.txt').write_text('user data')
    with pytest.raises(FileExistsError, match=str(tmp_path)):
        write_synthetic_cdd(tmp_path, num_train=1, num_val=0, num_test=0,
                            size=32)
    assert _files(tmp_path) == ['sub/keep.txt']
    # an existing but empty folder is fine
    (tmp_path / 'empty').mkdir()
    write_synthetic_cdd(tmp_path / 'empty', num_train=1, num_val=0,
                        num_test=0, size=32)
    assert len(_files(tmp_path / 'empty')) == 3
    with pytest.raises(ValueError, match='label_format'):
        write_synthetic_cdd(tmp_path / 'x', label_format='bmp')


def test_cli(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location('make_synthetic_cd', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out_dir = tmp_path / 'out'
    assert tool.main([str(out_dir), '--num-train', '2', '--num-val', '1',
                      '--num-test', '1', '--size', '32', '--seed', '1',
                      '--label-format', 'png']) == 0
    assert 'wrote 4 pairs' in capsys.readouterr().out
    assert len(_files(out_dir)) == 12
    assert (out_dir / 'test' / 'OUT' / '00000.png').is_file()
    before = {f: (out_dir / f).read_bytes() for f in _files(out_dir)}
    assert tool.main([str(out_dir), '--num-train', '2', '--size', '32',
                      '--seed', '2']) == 1
    err = capsys.readouterr().err
    assert 'already contains files' in err and str(out_dir) in err
    assert {f: (out_dir / f).read_bytes() for f in _files(out_dir)} == before
