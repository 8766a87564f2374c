"""mmcd.utils.writers: every output, its format chosen by suffix."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from mmcd.utils.writers import (ImageSceneWriter, RasterSceneWriter,
                                open_scene_writer, write_mask,
                                write_probability, write_rgb)

MASK = np.array([[0, 1, 1], [1, 0, 0]], np.uint8)


@pytest.mark.parametrize('suffix', ['.png', '.bmp', '.tif', '.tiff'])
def test_mask_is_single_channel_0_255_by_suffix(tmp_path, suffix):
    path = tmp_path / 'sub' / f'm{suffix}'  # the folder is made
    write_mask(str(path), torch.from_numpy(MASK)[None])  # (1, H, W) tensor
    saved = Image.open(path)
    assert saved.format == dict(png='PNG', bmp='BMP', tif='TIFF',
                                tiff='TIFF')[suffix[1:]]
    assert saved.mode == 'L'
    np.testing.assert_array_equal(np.array(saved), MASK * 255)
    write_mask(str(path), MASK.astype(bool))
    np.testing.assert_array_equal(np.array(Image.open(path)), MASK * 255)


@pytest.mark.parametrize('suffix', ['.jpg', '.jpeg', '.webp'])
def test_lossy_suffixes_are_refused_for_data(tmp_path, suffix):
    path = str(tmp_path / f'm{suffix}')
    with pytest.raises(ValueError, match='lossy'):
        write_mask(path, MASK)
    with pytest.raises(ValueError, match='lossy'):
        write_probability(path, MASK * 0.5)
    assert not (tmp_path / f'm{suffix}').exists()
    with pytest.raises(ValueError, match=r"'\.gif'"):
        write_mask(str(tmp_path / 'm.gif'), MASK)


def test_bad_masks_and_probabilities_are_refused(tmp_path):
    path = str(tmp_path / 'x.png')
    with pytest.raises(ValueError, match='0 .*and 1'):
        write_mask(path, MASK * 255)  # already 0/255
    with pytest.raises(ValueError, match=r'\(H, W\)'):
        write_mask(path, np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        write_probability(path, np.array([[0.5, 1.5]]))
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        write_probability(path, np.array([[0.5, np.nan]]))


def test_probability_is_round_255_p(tmp_path):
    prob = np.array([[0, 0.1, 0.5], [0.998, 1, 0.002]], np.float32)
    write_probability(str(tmp_path / 'p.png'), prob)
    saved = np.array(Image.open(tmp_path / 'p.png'))
    assert saved.dtype == np.uint8
    np.testing.assert_array_equal(saved, np.rint(prob * 255))


@pytest.mark.parametrize('suffix', ['.png', '.jpg'])
def test_rgb_keeps_channel_order(tmp_path, suffix):
    image = np.zeros((8, 8, 3), np.uint8)
    image[..., 0] = 255  # red
    write_rgb(str(tmp_path / f'o{suffix}'), image)
    saved = np.array(Image.open(tmp_path / f'o{suffix}').convert('RGB'))
    np.testing.assert_allclose(saved, image, atol=3)  # jpg: near
    with pytest.raises(ValueError, match='RGB'):
        write_rgb(str(tmp_path / 'g.png'), image[..., 0])


class _Plain:
    height, width, georeferenced = 4, 6, False


def test_scene_writer_by_suffix(tmp_path):
    png = open_scene_writer(str(tmp_path / 's.png'), _Plain(), False)
    assert isinstance(png, ImageSceneWriter)
    png.write(0, 0, np.full((4, 6), 255, np.uint8), np.ones((4, 6), bool))
    png.close()
    assert not (tmp_path / 's.png').exists()  # complete only once committed
    png.commit()
    assert np.array(Image.open(tmp_path / 's.png')).min() == 255
    with pytest.raises(ValueError, match=r"\.tif or \.png.*'\.jpg'"):
        open_scene_writer(str(tmp_path / 's.jpg'), _Plain(), False)
    geo = _Plain()
    geo.georeferenced = True
    with pytest.raises(ValueError, match='GeoTIFF'):
        open_scene_writer(str(tmp_path / 's.png'), geo, False)
    pytest.importorskip('rasterio')
    tif = open_scene_writer(str(tmp_path / 's.tif'), _Plain(), False)
    assert isinstance(tif, RasterSceneWriter)
    tif.close()
    tif.commit()
    assert sorted(os.listdir(tmp_path)) == ['s.png', 's.tif']
