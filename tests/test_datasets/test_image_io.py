"""Reading images as stored (issue 11): every case of the issue gives the
right result or an error naming the file and what to change."""

import cv2
import numpy as np
import pytest
import rasterio
from cd_test_utils import imwrite
from PIL import Image
from raster_helpers import write_tif

from mmcd.datasets.transforms import (LoadChangeAnnotation,
                                      LoadImagePairFromFile)
from mmcd.datasets.transforms.image_io import (display_rgb, read_image,
                                               select_bands)


def write_png16(path, img):
    """A 16-bit PNG holding ``img`` (RGB order in the file, or grey)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = img[..., ::-1] if img.ndim == 3 and img.shape[2] == 3 else img
    assert cv2.imwrite(str(path), np.ascontiguousarray(out))
    return str(path)


def pair(tmp_path, writer, img_a, img_b, ext):
    return dict(img_path=writer(tmp_path / 'A' / f'x{ext}', img_a),
                img_path2=writer(tmp_path / 'B' / f'x{ext}', img_b))


def rand(rng, shape, dtype):
    if np.dtype(dtype).kind == 'f':
        return rng.normal(0, 1, shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


# --------------------------------------------------- uint16 (was /256)
def test_uint16_png_is_kept_or_refused(tmp_path):
    rng = np.random.default_rng(0)
    # 12-bit data: mmcv's cv2 path made it 0..15
    a = rng.integers(0, 4096, (8, 10, 3), dtype=np.uint16)
    b = rng.integers(0, 4096, (8, 10, 3), dtype=np.uint16)
    info = pair(tmp_path, write_png16, a, b, '.png')
    img = LoadImagePairFromFile(dtype='uint16')(dict(info))['img']
    assert img.dtype == np.uint16 and img.shape == (8, 10, 6)
    np.testing.assert_array_equal(img[..., :3], a)
    np.testing.assert_array_equal(img[..., 3:], b)
    # an 8-bit config refuses it, saying what to set
    with pytest.raises(ValueError) as e:
        LoadImagePairFromFile()(dict(info))
    msg = str(e.value)
    assert info['img_path'] in msg and 'uint16' in msg and 'uint8' in msg
    assert "dtype='uint16'" in msg and 'band_stats' in msg


def test_uint16_grey_png(tmp_path):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 65536, (8, 8), dtype=np.uint16)
    path = write_png16(tmp_path / 'g.png', a)
    np.testing.assert_array_equal(read_image(path)[..., 0], a)


# ------------------------------------------- 4 bands (was taken as alpha)
@pytest.mark.parametrize('dtype', ['uint8', 'uint16'])
def test_four_band_tiff_is_read_as_stored(tmp_path, dtype):
    rng = np.random.default_rng(2)
    a, b = rand(rng, (8, 8, 4), dtype), rand(rng, (8, 8, 4), dtype)
    info = pair(tmp_path, write_tif, a, b, '.tif')
    if dtype == 'uint8':  # GDAL flags band 4 alpha: what fooled OpenCV
        with rasterio.open(info['img_path']) as ds:
            assert ds.colorinterp[3] == rasterio.enums.ColorInterp.alpha
    img = LoadImagePairFromFile(color_type='unchanged',
                                dtype=dtype)(dict(info))['img']
    assert img.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(img, np.concatenate([a, b], axis=2))
    img = LoadImagePairFromFile(bands=[4, 3, 2],
                                dtype=dtype)(dict(info))['img']
    np.testing.assert_array_equal(img[..., :3], a[..., [3, 2, 1]])
    np.testing.assert_array_equal(img[..., 3:], b[..., [3, 2, 1]])
    # an RGB config refuses the fourth band instead of dropping it
    with pytest.raises(ValueError) as e:
        LoadImagePairFromFile(dtype=dtype)(dict(info))
    msg = str(e.value)
    assert info['img_path'] in msg and 'has 4 bands' in msg
    assert 'bands=[1, 2, 3]' in msg and "color_type='unchanged'" in msg


# ---------------------------------------------- 13 bands (was "corrupt")
def test_thirteen_band_tiff(tmp_path):
    rng = np.random.default_rng(3)
    a = rng.integers(0, 10000, (6, 7, 13), dtype=np.uint16)
    b = rng.integers(0, 10000, (6, 7, 13), dtype=np.uint16)
    info = pair(tmp_path, write_tif, a, b, '.tif')
    img = LoadImagePairFromFile(bands=list(range(1, 14)),
                                dtype='uint16')(dict(info))['img']
    assert img.shape == (6, 7, 26) and img.dtype == np.uint16
    np.testing.assert_array_equal(img, np.concatenate([a, b], axis=2))
    rgb = LoadImagePairFromFile(bands=[4, 3, 2],
                                dtype='uint16')(dict(info))['img']
    np.testing.assert_array_equal(rgb[..., 3:], b[..., [3, 2, 1]])
    with pytest.raises(ValueError) as e:
        LoadImagePairFromFile(bands=[2, 14], dtype='uint16')(dict(info))
    msg = str(e.value)
    assert info['img_path'] in msg and 'has 13 bands' in msg
    assert '[14]' in msg and '1..13' in msg
    with pytest.raises(ValueError, match='has 13 bands.*bands=.1, 2, 3.'):
        LoadImagePairFromFile(dtype='uint16')(dict(info))


@pytest.mark.parametrize('dtype', ['int16', 'float32'])
def test_int16_and_float32_are_kept(tmp_path, dtype):
    rng = np.random.default_rng(4)
    a, b = rand(rng, (5, 6, 2), dtype), rand(rng, (5, 6, 2), dtype)
    info = pair(tmp_path, write_tif, a, b, '.tif')
    img = LoadImagePairFromFile(color_type='unchanged',
                                dtype=dtype)(dict(info))['img']
    assert img.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(img, np.concatenate([a, b], axis=2))
    # dtype=None takes any supported type, the dates must still agree
    any_dtype = LoadImagePairFromFile(color_type='unchanged', dtype=None)
    np.testing.assert_array_equal(any_dtype(dict(info))['img'], img)
    write_tif(tmp_path / 'B' / 'x.tif',
              b.astype(np.float64 if dtype == 'float32' else np.int32))
    with pytest.raises(ValueError,
                       match='B/x.tif is (float64|int32); '
                       'supported'):
        any_dtype(dict(info))


def test_dates_of_different_dtype(tmp_path):
    rng = np.random.default_rng(5)
    info = dict(img_path=write_tif(tmp_path / 'a.tif',
                                   rand(rng, (4, 4, 2), 'uint16')),
                img_path2=write_tif(tmp_path / 'b.tif',
                                    rand(rng, (4, 4, 2), 'int16')))
    with pytest.raises(ValueError, match='same dtype.*uint16.*int16'):
        LoadImagePairFromFile(color_type='unchanged', dtype=None)(info)


# ------------------------------------------------------------------ EXIF
def test_exif_orientation_never_applies(tmp_path):
    """A JPEG with an EXIF rotation is read as stored, like the other date
    and the mask: the pair stays aligned."""
    rng = np.random.default_rng(6)
    a = cv2.resize(rng.integers(0, 256, (3, 4, 3), dtype=np.uint8), (16, 8),
                   interpolation=cv2.INTER_NEAREST)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    pa = tmp_path / 'a.jpg'
    Image.fromarray(a).save(pa, quality=95, exif=exif)
    pb = imwrite(tmp_path / 'b.png', a)
    mask = np.zeros((8, 16), np.uint8)
    mask[:, :5] = 255
    pm = tmp_path / 'm.jpg'
    Image.fromarray(mask).save(pm, quality=95, exif=exif)
    # OpenCV rotates the image but not a mask read by Pillow
    assert cv2.imread(str(pa)).shape[:2] == (16, 8)
    res = LoadImagePairFromFile()(dict(img_path=str(pa), img_path2=str(pb)))
    assert res['img'].shape == (8, 16, 6)
    np.testing.assert_array_equal(res['img'][..., :3],
                                  np.asarray(Image.open(pa)))  # as stored
    res['seg_map_path'] = str(pm)
    gt = LoadChangeAnnotation()(res)['gt_seg_map']
    np.testing.assert_array_equal(gt, mask // 255)


# ------------------------------------------------- grey vs colour dates
def test_grey_date_a_rgb_date_b(tmp_path):
    rng = np.random.default_rng(7)
    grey = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    rgb = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    info = dict(img_path=str(imwrite(tmp_path / 'A' / 'x.png', grey)),
                img_path2=str(imwrite(tmp_path / 'B' / 'x.png', rgb)))
    with pytest.raises(ValueError) as e:
        LoadImagePairFromFile()(dict(info))
    msg = str(e.value)
    assert info['img_path'] in msg and 'grey' in msg
    assert 'grey_to_rgb=True' in msg
    with pytest.raises(ValueError) as e:
        LoadImagePairFromFile(color_type='unchanged')(dict(info))
    msg = str(e.value)
    assert info['img_path'] in msg and info['img_path2'] in msg
    assert 'grey_to_rgb=True' in msg and '1 channel' in msg
    # asked for: the grey date repeated into R, G, B
    img = LoadImagePairFromFile(grey_to_rgb=True)(dict(info))['img']
    np.testing.assert_array_equal(img[..., :3],
                                  np.repeat(grey[..., None], 3, axis=2))
    np.testing.assert_array_equal(img[..., 3:], rgb)
    # or both grey
    img = LoadImagePairFromFile(color_type='grayscale')(dict(info))['img']
    assert img.shape == (8, 8, 2)
    np.testing.assert_array_equal(img[..., 0], grey)
    expected = np.rint(rgb @ np.float32([0.299, 0.587, 0.114]))
    np.testing.assert_array_equal(img[..., 1], expected)


# ---------------------------------------------- 8-bit data stays the same
def test_jpeg_pixels_are_opencvs(tmp_path):
    """A chroma-subsampled JPEG decodes to exactly what mmcv's cv2 path gave
    (GDAL's libjpeg 9 would differ by a few levels)."""
    rng = np.random.default_rng(8)
    img = cv2.resize(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), (48, 40),
                     interpolation=cv2.INTER_CUBIC)
    path = str(imwrite(tmp_path / 'x.jpg', img, quality=90))
    expected = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(read_image(path), expected)
    res = LoadImagePairFromFile()(dict(img_path=path, img_path2=path))
    np.testing.assert_array_equal(res['img'][..., :3], expected)


def test_rgba_png_and_palette_png(tmp_path):
    rng = np.random.default_rng(9)
    rgba = rng.integers(0, 256, (8, 8, 4), dtype=np.uint8)
    path = tmp_path / 'rgba.png'
    Image.fromarray(rgba, 'RGBA').save(path)
    np.testing.assert_array_equal(read_image(str(path)), rgba)  # no premult
    with pytest.raises(ValueError, match='rgba.png has 4 bands'):
        LoadImagePairFromFile().load_date(str(path))
    np.testing.assert_array_equal(
        LoadImagePairFromFile(bands=[1, 2, 3]).load_date(str(path)),
        rgba[..., :3])
    # a palette image is its colours (as OpenCV gave it)
    idx = rng.integers(0, 4, (8, 8), dtype=np.uint8)
    colours = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    pal = Image.fromarray(idx, 'P')
    pal.putpalette(colours.ravel().tolist())
    pal.save(tmp_path / 'p.png')
    np.testing.assert_array_equal(read_image(str(tmp_path / 'p.png')),
                                  colours[idx])


def test_file_backend_args(tmp_path):
    """Files come through mmengine's file backends: here a backend holding
    the bytes in memory, the paths existing nowhere on disk."""
    from mmengine.fileio import BaseStorageBackend, register_backend

    store = {}

    @register_backend('mmcd_test_memory', force=True)
    class MemoryBackend(BaseStorageBackend):

        def __init__(self, **kwargs):
            pass

        def get(self, filepath):
            return store[str(filepath)]

        def get_text(self, filepath, encoding='utf-8'):
            return self.get(filepath).decode(encoding)

    rng = np.random.default_rng(10)
    a = rng.integers(0, 4096, (4, 5, 3), dtype=np.uint16)
    b = rng.integers(0, 10000, (4, 5, 13), dtype=np.uint16)
    store['mem://a.png'] = open(write_png16(tmp_path / 'a.png', a),
                                'rb').read()
    store['mem://b.tif'] = open(write_tif(tmp_path / 'b.tif', b), 'rb').read()
    backend_args = dict(backend='mmcd_test_memory')
    img = LoadImagePairFromFile(dtype='uint16', backend_args=backend_args)(
        dict(img_path='mem://a.png', img_path2='mem://a.png'))['img']
    np.testing.assert_array_equal(img[..., :3], a)
    np.testing.assert_array_equal(
        read_image('mem://b.tif', backend_args, bands=[13, 1]),
        b[..., [12, 0]])


def test_settings_are_checked():
    with pytest.raises(ValueError, match='1-based'):
        LoadImagePairFromFile(bands=[0, 1])
    with pytest.raises(ValueError, match='twice'):
        LoadImagePairFromFile(bands=[1, 1])
    with pytest.raises(ValueError, match='dtype must be one of'):
        LoadImagePairFromFile(dtype='float64')
    with pytest.raises(ValueError, match="color_type='color' reads 3"):
        LoadImagePairFromFile(bands=[1, 2], color_type='color')
    with pytest.raises(ValueError, match='grey_to_rgb applies'):
        LoadImagePairFromFile(color_type='unchanged', grey_to_rgb=True)
    with pytest.raises(ValueError, match='color_type must be'):
        LoadImagePairFromFile(color_type='rgb')
    with pytest.raises(ValueError, match='imdecode_backend'):
        LoadImagePairFromFile(imdecode_backend='magic')
    with pytest.warns(UserWarning, match='imdecode_backend.*ignored'):
        LoadImagePairFromFile(imdecode_backend='cv2')


def test_select_bands_messages():
    assert select_bands(4, 'uint16', 'f.tif') == [1, 2, 3, 4]
    assert select_bands(4, np.uint16, 'f.tif', [3, 1]) == [3, 1]
    with pytest.raises(ValueError, match=r'f.tif has 4 bands but --bands'):
        select_bands(4, 'uint16', 'f.tif', [5], bands_option='--bands')
    with pytest.raises(ValueError,
                       match="f.tif is uint16 but the config "
                       "expects uint8: set --dtype='uint16'"):
        select_bands(4,
                     'uint16',
                     'f.tif',
                     None,
                     'uint8',
                     dtype_option='--dtype')


def test_display_rgb():
    img = np.zeros((4, 4, 5), np.uint16)
    img[..., 0] = np.arange(16).reshape(4, 4) * 1000
    out = display_rgb(img)
    assert out.dtype == np.uint8 and out.shape == (4, 4, 3)
    assert out[..., 0].min() == 0 and out[..., 0].max() == 255
    grey = display_rgb(np.full((2, 2), 7, np.uint8))
    np.testing.assert_array_equal(grey, np.full((2, 2, 3), 7, np.uint8))
