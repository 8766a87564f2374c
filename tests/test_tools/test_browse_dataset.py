"""tools/analysis_tools/browse_dataset.py: panels of the pipeline output."""
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmcd.datasets.synthetic import write_synthetic_cdd
from mmcd.visualization import draw_change_overlay

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / 'configs' / 'lsnet_cdd.py')


@pytest.fixture(scope='module')
def browse():
    spec = importlib.util.spec_from_file_location(
        'mmcd_test_browse_dataset',
        REPO / 'tools' / 'analysis_tools' / 'browse_dataset.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp('browse') / 'toy'
    write_synthetic_cdd(str(root), num_train=2, num_val=2, num_test=0,
                        size=32, seed=3, label_format='png')
    return root


def on_disk(root, split, name):
    """Date A, date B (RGB) and the 0/1 label of a pair, read with PIL."""
    a = np.array(Image.open(root / split / 'A' / f'{name}.jpg'))
    b = np.array(Image.open(root / split / 'B' / f'{name}.jpg'))
    label = (np.array(Image.open(root / split / 'OUT' / f'{name}.png')) >=
             128).astype(np.uint8)
    return a, b, label


def test_val_panels_show_the_pairs_and_labels(browse, toy, tmp_path, capsys):
    out = tmp_path / 'val'
    assert browse.main([
        CONFIG, '--output-dir', str(out), '--split', 'val', '--cfg-options',
        f'val_dataloader.dataset.data_root={toy}',
        'val_dataloader.dataset.seg_map_suffix=.png'
    ]) == 0
    stdout = capsys.readouterr().out
    assert 'wrote 2 of 2 panels' in stdout and 'inputs: (6, 32, 32)' in stdout
    assert 'LoadChangeAnnotation' in stdout  # the pipeline is listed
    assert sorted(os.listdir(out)) == ['00000_00000.png', '00001_00001.png']
    for index, name in enumerate(['00000', '00001']):
        panel = np.array(Image.open(out / f'{index:05d}_{name}.png'))
        a, b, label = on_disk(toy, 'val', name)
        assert panel.shape == (32, 96, 3)
        # cv2 and PIL decode JPEG alike here (same libjpeg): exact pixels
        np.testing.assert_array_equal(panel[:, :32], a)
        np.testing.assert_array_equal(panel[:, 32:64], b)
        np.testing.assert_array_equal(panel[:, 64:],
                                      draw_change_overlay(b, label))
    assert label.any()


def test_train_panels_follow_the_random_transforms(browse, toy, tmp_path,
                                                   capsys):
    """Force the horizontal flip (pipeline step 2), disable the vertical
    flip and rotation: the panels must show the flipped pair and label."""
    out = tmp_path / 'train'
    loader = 'train_dataloader.dataset'
    assert browse.main([
        CONFIG, '--output-dir', str(out), '--max-samples', '1',
        '--cfg-options', f'{loader}.data_root={toy}',
        f'{loader}.seg_map_suffix=.png', f'{loader}.pipeline.2.prob=1.0',
        f'{loader}.pipeline.3.prob=0.0',
        f'{loader}.pipeline.4.prob=0.0'
    ]) == 0
    assert 'RandomFlip(prob=1.0, direction=horizontal)' in \
        capsys.readouterr().out
    assert os.listdir(out) == ['00000_00000.png']
    panel = np.array(Image.open(out / '00000_00000.png'))
    a, b, label = on_disk(toy, 'train', '00000')
    assert not np.array_equal(a, a[:, ::-1])
    np.testing.assert_array_equal(panel[:, :32], a[:, ::-1])
    np.testing.assert_array_equal(panel[:, 32:64], b[:, ::-1])
    np.testing.assert_array_equal(
        panel[:, 64:], draw_change_overlay(b[:, ::-1], label[:, ::-1]))

    # a second run never overwrites the panels
    before = (out / '00000_00000.png').read_bytes()
    assert browse.main([
        CONFIG, '--output-dir', str(out), '--max-samples', '1',
        '--cfg-options', f'{loader}.data_root={toy}',
        f'{loader}.seg_map_suffix=.png'
    ]) == 1
    assert 'exists' in capsys.readouterr().err
    assert (out / '00000_00000.png').read_bytes() == before


def test_missing_config_is_named(browse, tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.py'):
        browse.main([str(tmp_path / 'nope.py'), '--output-dir',
                     str(tmp_path / 'x')])


def test_multiband_and_16bit_dates_are_drawn(browse):
    """A 4-band uint16 date shows its first three bands, stretched to 8
    bits (not refused, not clipped to black/white); 8-bit values made
    float by a photometric transform are only rounded."""
    rng = np.random.default_rng(0)
    chw = rng.integers(200, 4000, (4, 16, 16)).astype(np.uint16)
    img = browse._date_image(chw)
    assert img.shape == (16, 16, 3) and img.dtype == np.uint8
    assert 0 < img.mean() < 255 and img.min() == 0 and img.max() == 255
    order = np.argsort(chw[0].ravel())  # the stretch keeps each band's order
    assert np.all(np.diff(img[..., 0].ravel()[order].astype(int)) >= 0)
    as_float = rng.uniform(0, 255, (3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(
        browse._date_image(as_float),
        np.rint(as_float).astype(np.uint8).transpose(1, 2, 0))
