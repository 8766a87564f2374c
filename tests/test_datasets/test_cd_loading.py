"""LoadImagePairFromFile and LoadChangeAnnotation."""
import io

import cv2
import numpy as np
import pytest
from cd_test_utils import blocky_mask, imwrite, random_rgb
from PIL import Image

from mmcd.datasets.transforms import (ChangeInferencerLoader,
                                      LoadChangeAnnotation,
                                      LoadImagePairFromFile)
from mmcd.datasets.transforms.loading import check_ignore_value


def _pair(tmp_path, img_a, img_b, ext='.png'):
    pa = imwrite(tmp_path / 'A' / f'x{ext}', img_a)
    pb = imwrite(tmp_path / 'B' / f'x{ext}', img_b)
    return dict(img_path=str(pa), img_path2=str(pb))


# ---------------------------------------------------------------- images
@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_pair_is_concatenated_rgb(tmp_path, backend):
    rng = np.random.default_rng(0)
    a, b = random_rgb(rng, 8, 12), random_rgb(rng, 8, 12)
    res = LoadImagePairFromFile(imdecode_backend=backend)(
        _pair(tmp_path, a, b))
    img = res['img']
    assert img.shape == (8, 12, 6) and img.dtype == np.uint8
    np.testing.assert_array_equal(img[..., :3], a)
    np.testing.assert_array_equal(img[..., 3:], b)
    assert res['img_shape'] == (8, 12) and res['ori_shape'] == (8, 12)


def test_pair_options(tmp_path):
    rng = np.random.default_rng(1)
    a, b = random_rgb(rng), random_rgb(rng)
    info = _pair(tmp_path, a, b)
    img = LoadImagePairFromFile(to_float32=True)(dict(info))['img']
    assert img.dtype == np.float32
    np.testing.assert_array_equal(img[..., 3:], b.astype(np.float32))
    bgr = LoadImagePairFromFile(channel_order='bgr')(dict(info))['img']
    np.testing.assert_array_equal(bgr[..., :3], a[..., ::-1])
    # 'unchanged' keeps RGB order too
    img = LoadImagePairFromFile(color_type='unchanged')(dict(info))['img']
    np.testing.assert_array_equal(img[..., :3], a)
    gray = LoadImagePairFromFile(color_type='grayscale')(dict(info))['img']
    assert gray.shape == (16, 16, 2)
    with pytest.raises(ValueError, match='channel_order'):
        LoadImagePairFromFile(channel_order='hsv')


def test_pair_size_mismatch_names_both_files(tmp_path):
    rng = np.random.default_rng(2)
    info = _pair(tmp_path, random_rgb(rng, 16, 16), random_rgb(rng, 16, 20))
    with pytest.raises(ValueError) as e:
        LoadImagePairFromFile()(info)
    msg = str(e.value)
    assert info['img_path'] in msg and info['img_path2'] in msg
    assert '16x16' in msg and '16x20' in msg


def test_pair_channel_mismatch_names_both_files(tmp_path):
    rng = np.random.default_rng(3)
    pa = imwrite(tmp_path / 'A' / 'x.png', random_rgb(rng))
    pb = imwrite(tmp_path / 'B' / 'x.png',
                 rng.integers(0, 256, (16, 16), dtype=np.uint8))
    info = dict(img_path=str(pa), img_path2=str(pb))
    with pytest.raises(ValueError) as e:
        LoadImagePairFromFile(color_type='unchanged')(info)
    msg = str(e.value)
    assert str(pa) in msg and str(pb) in msg
    assert '3 channels' in msg and '1 channel' in msg
    # read as colour, the grey date is refused (issue 11), unless the config
    # asks for the conversion
    with pytest.raises(ValueError, match=r'date-B image .*B/x\.png is grey'
                       r'.*grey_to_rgb=True'):
        LoadImagePairFromFile()(dict(info))
    img = LoadImagePairFromFile(grey_to_rgb=True)(dict(info))['img']
    assert img.shape == (16, 16, 6)


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
@pytest.mark.parametrize('content', [b'', b'not an image at all' * 10])
def test_unreadable_image_names_file(tmp_path, backend, content):
    rng = np.random.default_rng(4)
    info = _pair(tmp_path, random_rgb(rng), random_rgb(rng))
    with open(info['img_path2'], 'wb') as f:
        f.write(content)
    with pytest.raises(OSError, match='date-B image .*B/x.png'):
        LoadImagePairFromFile(imdecode_backend=backend)(info)


def test_truncated_png_names_file(tmp_path):
    rng = np.random.default_rng(5)
    info = _pair(tmp_path, random_rgb(rng, 32, 32), random_rgb(rng, 32, 32))
    data = open(info['img_path'], 'rb').read()
    with open(info['img_path'], 'wb') as f:
        f.write(data[:len(data) // 3])
    with pytest.raises(OSError, match=r'date-A image .*A/x\.png'):
        LoadImagePairFromFile()(info)


def test_missing_image_names_file(tmp_path):
    rng = np.random.default_rng(6)
    info = _pair(tmp_path, random_rgb(rng), random_rgb(rng))
    info['img_path2'] = str(tmp_path / 'B' / 'missing.png')
    with pytest.raises(FileNotFoundError, match='missing.png'):
        LoadImagePairFromFile()(info)


def test_load_date_is_the_pipeline_decoding(tmp_path):
    """``load_date`` (public, used by the scene predictor) decodes one date
    as the transform does, channel order included."""
    rng = np.random.default_rng(4)
    a, b = random_rgb(rng, 8, 12), random_rgb(rng, 8, 12)
    info = _pair(tmp_path, a, b)
    for order in ('rgb', 'bgr'):
        loader = LoadImagePairFromFile(channel_order=order)
        img = loader(dict(info))['img']
        np.testing.assert_array_equal(loader.load_date(info['img_path']),
                                      img[..., :3])
        np.testing.assert_array_equal(loader.load_date(info['img_path2']),
                                      img[..., 3:])
    with pytest.raises(FileNotFoundError, match='date-A scene.*nope.png'):
        loader.load_date(str(tmp_path / 'nope.png'), 'date-A scene')


def test_inferencer_loader_is_registered_and_takes_files_or_arrays(
        tmp_path):
    """The inferencer's loader, built from a config like every transform:
    files as LoadImagePairFromFile with the same settings, arrays checked
    and concatenated the same way."""
    from mmengine.registry import init_default_scope

    from mmcd.registry import TRANSFORMS
    init_default_scope('mmcd')
    rng = np.random.default_rng(5)
    a, b = random_rgb(rng, 8, 12), random_rgb(rng, 8, 12)
    info = _pair(tmp_path, a, b)
    loader = TRANSFORMS.build(dict(type='ChangeInferencerLoader',
                                   to_float32=True))
    assert isinstance(loader, ChangeInferencerLoader)
    from_files = loader(dict(info))
    np.testing.assert_array_equal(
        from_files['img'], LoadImagePairFromFile(to_float32=True)(
            dict(info))['img'])
    from_arrays = loader(dict(img_a=a, img_b=b))
    assert 'img_a' not in from_arrays and 'img_b' not in from_arrays
    assert from_arrays['img'].dtype == np.float32
    np.testing.assert_array_equal(from_arrays['img'], from_files['img'])
    assert from_arrays['ori_shape'] == (8, 12)
    gray = loader(dict(img_a=a[..., 0], img_b=b[..., 0]))['img']
    assert gray.shape == (8, 12, 2)
    with pytest.raises(ValueError, match='same shape and dtype'):
        loader(dict(img_a=a, img_b=b[:4]))
    with pytest.raises(ValueError, match='H x W x C'):
        loader(dict(img_a=a[None], img_b=b[None]))


# ---------------------------------------------------------------- masks
def _load_mask(tmp_path, raw, ext='.png', quality=95, **kwargs):
    path = imwrite(tmp_path / f'mask{ext}', raw, quality=quality)
    results = dict(seg_map_path=str(path), seg_fields=[])
    results.update(kwargs.pop('info', {}))
    return LoadChangeAnnotation(**kwargs)(results), path


def test_mask_0_255_png(tmp_path):
    m = blocky_mask(np.random.default_rng(0))
    res, _ = _load_mask(tmp_path, m * 255)
    np.testing.assert_array_equal(res['gt_seg_map'], m)
    assert res['gt_seg_map'].dtype == np.uint8
    assert res['seg_fields'] == ['gt_seg_map']


def test_mask_0_1_png(tmp_path):
    m = blocky_mask(np.random.default_rng(1))
    res, _ = _load_mask(tmp_path, m, info=dict(label_encoding='0-1'))
    np.testing.assert_array_equal(res['gt_seg_map'], m)
    res, _ = _load_mask(tmp_path, m, label_encoding='0-1')
    np.testing.assert_array_equal(res['gt_seg_map'], m)


def test_mask_0_255_jpeg_with_noise(tmp_path):
    m = np.zeros((32, 32), np.uint8)
    m[4:14, 5:20] = 1
    m[20:28, 22:30] = 1
    m[18, 3] = 1
    res, path = _load_mask(tmp_path, m * 255, ext='.jpg', quality=90)
    raw = np.array(Image.open(path).convert('L'))
    assert len(np.unique(raw)) > 2  # compression noise is there
    np.testing.assert_array_equal(res['gt_seg_map'], m)


def test_mask_0_1_jpeg_with_a_few_twos(tmp_path):
    m = np.zeros((32, 32), np.uint8)
    m[4:14, 5:20] = 1
    m[20:28, 22:30] = 1
    ok, buf = cv2.imencode('.jpg', m, [cv2.IMWRITE_JPEG_QUALITY, 95])
    path = tmp_path / 'mask.jpg'
    path.write_bytes(buf.tobytes())
    raw = np.array(Image.open(io.BytesIO(buf.tobytes())).convert('L'))
    assert set(np.unique(raw)) == {0, 1, 2}
    res = LoadChangeAnnotation()(
        dict(seg_map_path=str(path), label_encoding='0-1', seg_fields=[]))
    np.testing.assert_array_equal(res['gt_seg_map'], raw >= 1)
    iou = (res['gt_seg_map'] & m).sum() / (res['gt_seg_map'] | m).sum()
    assert iou > 0.9
    # the default '0-255' must refuse it instead of reading it as empty
    with pytest.raises(ValueError) as e:
        LoadChangeAnnotation()(dict(seg_map_path=str(path), seg_fields=[]))
    assert str(path) in str(e.value)
    assert "label_encoding='0-1'" in str(e.value)


def test_contradicting_encoding_raises(tmp_path):
    m = blocky_mask(np.random.default_rng(2))
    with pytest.raises(ValueError) as e:
        _load_mask(tmp_path, m)  # 0/1 read as the default 0-255
    assert 'mask.png' in str(e.value) and "'0-1'" in str(e.value)
    with pytest.raises(ValueError) as e:
        _load_mask(tmp_path, m * 255, info=dict(label_encoding='0-1'))
    assert 'mask.png' in str(e.value) and "'0-255'" in str(e.value)
    # the transform argument overrides the data info
    res, _ = _load_mask(
        tmp_path, m * 255, label_encoding='0-255',
        info=dict(label_encoding='0-1'))
    np.testing.assert_array_equal(res['gt_seg_map'], m)


@pytest.mark.parametrize('encoding', ['0-255', '0-1'])
def test_empty_mask_is_fine(tmp_path, encoding):
    res, _ = _load_mask(
        tmp_path, np.zeros((8, 8), np.uint8), label_encoding=encoding)
    assert not res['gt_seg_map'].any()


def test_ignore_value(tmp_path):
    raw = np.zeros((8, 8), np.uint8)
    raw[:2] = 255
    raw[2:4] = 100
    # by default 255 is "changed", nothing is ignored
    res, _ = _load_mask(tmp_path, raw)
    assert set(np.unique(res['gt_seg_map'])) == {0, 1}
    res, _ = _load_mask(tmp_path, raw, info=dict(ignore_value=100))
    expected = np.zeros((8, 8), np.uint8)
    expected[:2] = 1
    expected[2:4] = 255
    np.testing.assert_array_equal(res['gt_seg_map'], expected)
    # 0/1 masks with 255 marking ignored pixels
    raw01 = np.zeros((8, 8), np.uint8)
    raw01[:2] = 1
    raw01[6:] = 255
    res, _ = _load_mask(
        tmp_path, raw01, label_encoding='0-1', ignore_value=255)
    expected = np.zeros((8, 8), np.uint8)
    expected[:2] = 1
    expected[6:] = 255
    np.testing.assert_array_equal(res['gt_seg_map'], expected)
    # an ignore-only mask is not "non-empty but all < 128"
    only_ignored = np.where(raw == 100, 100, 0).astype(np.uint8)
    res, _ = _load_mask(tmp_path, only_ignored, ignore_value=100)
    assert set(np.unique(res['gt_seg_map'])) == {0, 255}


def test_bad_settings():
    with pytest.raises(ValueError, match='label_encoding'):
        LoadChangeAnnotation(label_encoding='0-128')
    for value, encoding in [(0, '0-255'), (255, '0-255'), (1, '0-1'),
                            (300, '0-255'), (1.5, '0-1')]:
        with pytest.raises(ValueError):
            check_ignore_value(value, encoding)
    assert check_ignore_value(None, '0-255') is None
    assert check_ignore_value(255, '0-1') == 255


def test_mask_size_mismatch_names_files(tmp_path):
    path = imwrite(tmp_path / 'mask.png', np.zeros((8, 10), np.uint8))
    with pytest.raises(ValueError) as e:
        LoadChangeAnnotation()(
            dict(seg_map_path=str(path), seg_fields=[], ori_shape=(8, 8),
                 img_path='A/x.png', img_path2='B/x.png'))
    msg = str(e.value)
    assert str(path) in msg and 'A/x.png' in msg and 'B/x.png' in msg
    assert '8x10' in msg and '8x8' in msg


def test_unreadable_mask_names_file(tmp_path):
    path = tmp_path / 'mask.png'
    path.write_bytes(b'garbage')
    with pytest.raises(OSError, match='change mask .*mask.png'):
        LoadChangeAnnotation()(dict(seg_map_path=str(path), seg_fields=[]))
    with pytest.raises(FileNotFoundError, match='nothere.png'):
        LoadChangeAnnotation()(
            dict(seg_map_path=str(tmp_path / 'nothere.png'), seg_fields=[]))


def _palette_png(path, indices, palette):
    """Write ``indices`` as a palette ('P' mode) PNG with RGB ``palette``."""
    img = Image.fromarray(indices, mode='P')
    img.putpalette([c for rgb in palette for c in rgb])
    img.save(path)
    assert Image.open(path).mode == 'P'
    return path


# index 0 black, 1 dark red (luminance 38), 255 light (luminance > 128):
# decoded as luminance, change (1) would read as "unchanged" and an
# ignore border (255) as "changed"
VOC_LIKE = [(0, 0, 0), (128, 0, 0)] + [(0, 0, 0)] * 253 + [(224, 224, 192)]


def test_palette_mask_0_1_is_read_by_index(tmp_path):
    m = blocky_mask(np.random.default_rng(3))
    raw = m.copy()
    raw[0] = 255  # an ignore border
    path = _palette_png(tmp_path / 'm.png', raw, VOC_LIKE)
    res = LoadChangeAnnotation(label_encoding='0-1', ignore_value=255)(
        dict(seg_map_path=str(path), seg_fields=[]))
    expected = m.copy()
    expected[0] = 255
    np.testing.assert_array_equal(res['gt_seg_map'], expected)
    # the default '0-255' refuses 0/1 indices (it does not read colours)
    path = _palette_png(tmp_path / 'm01.png', m, VOC_LIKE)
    with pytest.raises(ValueError) as e:
        LoadChangeAnnotation()(dict(seg_map_path=str(path), seg_fields=[]))
    assert str(path) in str(e.value) and 'palette' in str(e.value)
    assert "label_encoding='0-1'" in str(e.value)


def test_palette_mask_0_255_is_read_by_index(tmp_path):
    m = blocky_mask(np.random.default_rng(4))
    # index 255 drawn black, index 0 white: the colours say the opposite
    palette = [(255, 255, 255)] + [(0, 0, 0)] * 255
    path = _palette_png(tmp_path / 'm.png', m * 255, palette)
    res = LoadChangeAnnotation()(dict(seg_map_path=str(path), seg_fields=[]))
    np.testing.assert_array_equal(res['gt_seg_map'], m)
