"""tools/dataset_converters/cdd.py and levircd.py on tiny folders."""
import filecmp
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope
from PIL import Image

import mmcd  # noqa: F401 (registers the transforms)
from mmcd.datasets import CDDDataset, LEVIRCDDataset

REPO = Path(__file__).resolve().parents[2]
CONVERTERS = REPO / 'tools' / 'dataset_converters'


@pytest.fixture(scope='module')
def tools():
    """The converter scripts imported as modules (their folder on path)."""
    sys.path.insert(0, str(CONVERTERS))
    try:
        modules = {}
        for name in ('cdd', 'levircd'):
            spec = importlib.util.spec_from_file_location(
                f'mmcd_test_converter_{name}', CONVERTERS / f'{name}.py')
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            modules[name] = module
        yield modules
    finally:
        sys.path.remove(str(CONVERTERS))


def write(path, img, quality=None):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if quality else []
    assert cv2.imwrite(str(path), img, params)
    return path


def read_grey(path):
    """A mask as PIL decodes it to 8-bit grey (independent of mmcd)."""
    return np.array(Image.open(path).convert('L'))


def write_cdd(root, split, masks, quality=75, seed=0):
    """A CDD-like split: JPEG images, the given masks as JPEG."""
    rng = np.random.default_rng(seed)
    for name, mask in masks.items():
        for date in ('A', 'B'):
            write(root / split / date / f'{name}.jpg',
                  rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
        write(root / split / 'OUT' / f'{name}.jpg', mask, quality)


def rect_mask(value, y0=8, y1=24, x0=8, x1=16):
    mask = np.zeros((32, 32), np.uint8)
    mask[y0:y1, x0:x1] = value
    return mask


def run_script(script, args):
    result = subprocess.run(
        [sys.executable, str(CONVERTERS / script)] + [str(a) for a in args],
        capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout, result.stderr


@pytest.mark.slow
def test_cdd_binarises_0_255_jpeg_masks_into_png(tmp_path):
    src, out = tmp_path / 'CDD', tmp_path / 'CDD_png'
    # a noisy 0/255 JPEG mask (a soft edge and compression leave values
    # between 0 and 255 on both sides of the threshold) and an empty one
    soft = rect_mask(255)
    soft[8:24, 16] = 140
    soft[8:24, 17] = 100
    write_cdd(src, 'train', {'00000': soft, '00001': rect_mask(0)})
    write_cdd(src, 'val', {'00002': rect_mask(255, 0, 32, 0, 8)}, seed=1)
    raw = {n: read_grey(p) for n, p in [
        (p.stem, p) for p in sorted(src.glob('*/OUT/*.jpg'))]}
    assert set(np.unique(raw['00000'])) - {0, 255}, 'test needs JPEG noise'

    rc, stdout, stderr = run_script('cdd.py', [src, out])
    assert rc == 0, stderr
    for split, name in (('train', '00000'), ('train', '00001'),
                        ('val', '00002')):
        png = out / split / 'OUT' / f'{name}.png'
        mask = np.array(Image.open(png))
        assert mask.dtype == np.uint8 and mask.shape == (32, 32)
        np.testing.assert_array_equal(mask, (raw[name] >= 128) * 255)
        for date in ('A', 'B'):  # images copied byte for byte
            assert filecmp.cmp(src / split / date / f'{name}.jpg',
                               out / split / date / f'{name}.jpg',
                               shallow=False)
    # the sources are untouched and nothing else was written
    assert sorted(p.name for p in (src / 'train' / 'OUT').iterdir()) == [
        '00000.jpg', '00001.jpg']
    assert len(list(out.rglob('*.*'))) == 9
    # progress bar and summary: pairs, masks with change, empty masks and
    # changed-pixel share per split, computed here from the expected masks
    assert '2/2' in stdout and '1/1' in stdout
    changed = (raw['00000'] >= 128).sum() + (raw['00001'] >= 128).sum()
    lines = stdout.splitlines()
    assert 'wrote 3 pairs' in stdout
    assert f'train  2      1                  1            ' \
           f'{100 * changed / 2048:.2f}%' in lines
    assert 'val    1      1                  0            25.00%' in lines

    # the output loads with CDDDataset(seg_map_suffix='.png')
    init_default_scope('mmcd')
    dataset = CDDDataset(
        data_root=str(out), seg_map_suffix='.png',
        pipeline=[dict(type='LoadImagePairFromFile'),
                  dict(type='LoadChangeAnnotation')])
    assert len(dataset) == 2
    np.testing.assert_array_equal(dataset[0]['gt_seg_map'],
                                  raw['00000'] >= 128)


def test_cdd_0_1_masks_need_their_encoding(tools, tmp_path, capsys):
    src = tmp_path / 'CDD01'
    write_cdd(src, 'test', {'00000': rect_mask(1), '00001': rect_mask(0)},
              quality=90)
    raw = read_grey(src / 'test' / 'OUT' / '00000.jpg')
    assert raw.max() < 128 and raw.max() >= 1
    # read as 0/255, a 0/1 mask would silently become empty: refused
    assert tools['cdd'].main([str(src), str(tmp_path / 'wrong')]) == 1
    err = capsys.readouterr().err
    assert str(src / 'test' / 'OUT' / '00000.jpg') in err
    assert "label_encoding='0-1'" in err and '--label-encoding' in err

    out = tmp_path / 'ok'
    assert tools['cdd'].main([
        str(src), str(out), '--label-encoding', '0-1', '--symlink-images'
    ]) == 0
    mask = np.array(Image.open(out / 'test' / 'OUT' / '00000.png'))
    np.testing.assert_array_equal(mask, (raw >= 1) * 255)
    link = out / 'test' / 'A' / '00000.jpg'
    assert link.is_symlink() and link.samefile(src / 'test/A/00000.jpg')
    assert "change = source value >= 1, label_encoding '0-1'" in \
        capsys.readouterr().out


def test_cdd_real_sample_0_1_jpeg(tools, tmp_path, real_samples):
    """The real CDD pair stores its mask as 0/1 JPEG (with a few 2s)."""
    real_cdd = real_samples / 'CDD'
    src = tmp_path / 'real'
    for folder, real in (('A', 'A'), ('B', 'B'), ('OUT', 'label')):
        (src / 'train' / folder).mkdir(parents=True)
        # read in place through a link: the files are not copied
        os.symlink(real_cdd / real / '00000.jpg',
                   src / 'train' / folder / '00000.jpg')
    raw = read_grey(real_cdd / 'label' / '00000.jpg')
    assert tools['cdd'].main(
        [str(src), str(tmp_path / 'out'), '--label-encoding', '0-1']) == 0
    mask = np.array(Image.open(tmp_path / 'out/train/OUT/00000.png'))
    np.testing.assert_array_equal(mask, (raw >= 1) * 255)
    assert 0 < (mask == 255).mean() < 1


def test_cdd_refuses_non_empty_output_and_incomplete_pairs(
        tools, tmp_path, capsys):
    src = tmp_path / 'CDD'
    write_cdd(src, 'train', {'00000': rect_mask(255)})
    out = tmp_path / 'out'
    out.mkdir()
    keep = out / 'notes.txt'
    keep.write_text('mine')
    assert tools['cdd'].main([str(src), str(out)]) == 1
    assert 'never overwrites' in capsys.readouterr().err
    assert keep.read_text() == 'mine' and os.listdir(out) == ['notes.txt']

    # the output may not be the source either (it holds files)
    assert tools['cdd'].main([str(src), str(src)]) == 1
    capsys.readouterr()

    os.remove(src / 'train' / 'B' / '00000.jpg')
    write(src / 'train' / 'B' / 'x.jpg', np.zeros((32, 32, 3), np.uint8))
    assert tools['cdd'].main([str(src), str(tmp_path / 'new')]) == 1
    err = capsys.readouterr().err
    assert str(src / 'train' / 'A' / '00000.jpg') in err
    assert not (tmp_path / 'new').exists()

    assert tools['cdd'].main([str(tmp_path / 'nope'),
                              str(tmp_path / 'new')]) == 1
    assert 'nope does not exist' in capsys.readouterr().err
    assert tools['cdd'].main([str(src), str(tmp_path / 'new'), '--splits',
                              'train', 'val']) == 1
    assert str(src / 'val') in capsys.readouterr().err


def write_levir_tile(root, split, name, size=(512, 512), seed=0):
    rng = np.random.default_rng(seed)
    h, w = size
    tiles = {
        'A': rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        'B': rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        'label': np.zeros((h, w), np.uint8),
    }
    tiles['label'][300:310, 20:40] = 255  # change in crop (256, 0) only
    for folder, img in tiles.items():
        write(root / split / folder / f'{name}.png', img)
    return tiles


@pytest.mark.slow
def test_levircd_crops_are_exact_and_named_by_offset(tmp_path):
    src, out = tmp_path / 'LEVIR-CD', tmp_path / 'LEVIR-CD-256'
    tiles = {
        'train_1': write_levir_tile(src, 'train', 'train_1', seed=1),
        'test_7': write_levir_tile(src, 'test', 'test_7', seed=2),
    }
    rc, stdout, stderr = run_script('levircd.py', [src, out])
    assert rc == 0, stderr
    for split, name in (('train', 'train_1'), ('test', 'test_7')):
        expected = {f'{name}_{y:04d}_{x:04d}.png': (y, x)
                    for y in (0, 256) for x in (0, 256)}
        for folder, tile in tiles[name].items():
            files = sorted(os.listdir(out / split / folder))
            assert files == sorted(expected)
            for fname, (y, x) in expected.items():
                crop = cv2.imread(str(out / split / folder / fname),
                                  cv2.IMREAD_UNCHANGED)
                np.testing.assert_array_equal(
                    crop, tile[y:y + 256, x:x + 256])
    assert (out / 'train/A/train_1_0256_0000.png').is_file()
    assert 'wrote 8 crops of 256x256' in stdout and '1/1' in stdout
    lines = stdout.splitlines()
    assert 'train  1      4      1                  3' in lines
    assert 'test   1      4      1                  3' in lines
    init_default_scope('mmcd')
    dataset = LEVIRCDDataset(
        data_root=str(out), data_prefix=dict(
            img_path='test/A', img_path2='test/B',
            seg_map_path='test/label'),
        pipeline=[dict(type='LoadImagePairFromFile'),
                  dict(type='LoadChangeAnnotation')])
    assert len(dataset) == 4
    assert dataset[2]['gt_seg_map'].sum() == 200  # test_7_0256_0000


def test_levircd_refuses_partial_crops_and_non_empty_output(
        tools, tmp_path, capsys):
    src = tmp_path / 'LEVIR-CD'
    write_levir_tile(src, 'train', 'train_1', size=(64, 64))
    write_levir_tile(src, 'train', 'train_2', size=(64, 48))
    out = tmp_path / 'out'
    assert tools['levircd'].main(
        [str(src), str(out), '--crop-size', '32']) == 1
    err = capsys.readouterr().err
    assert str(src / 'train' / 'A' / 'train_2.png') in err
    assert '64x48' in err
    assert not out.exists()  # checked before anything is written

    os.remove(src / 'train' / 'label' / 'train_2.png')
    write(src / 'train' / 'label' / 'train_2.png',
          np.zeros((64, 64), np.uint8))
    assert tools['levircd'].main(
        [str(src), str(out), '--crop-size', '16']) == 1
    assert 'differ in size' in capsys.readouterr().err

    for name in ('A', 'B'):
        os.remove(src / 'train' / name / 'train_2.png')
    os.remove(src / 'train' / 'label' / 'train_2.png')
    assert tools['levircd'].main(
        [str(src), str(out), '--crop-size', '32', '--splits', 'train']) == 0
    assert len(os.listdir(out / 'train' / 'label')) == 4
    before = {p: p.read_bytes() for p in out.rglob('*.png')}
    assert tools['levircd'].main(
        [str(src), str(out), '--crop-size', '32']) == 1
    assert 'never overwrites' in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.rglob('*.png')} == before
