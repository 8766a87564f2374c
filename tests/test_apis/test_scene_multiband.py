"""SceneChangePredictor on satellite data as it comes: uint16 multi-band
scenes with nodata and the training normalisation, band/dtype checks,
``align`` (date B warped onto date A's grid), GeoPackage and RFC 7946
output read back with fiona, and the threaded tile pipeline."""
import copy
import json
import os
import threading

import cv2
import numpy as np
import pytest
import torch
import raster_helpers
from api_test_utils import make_pair
from conftest import LOCAL_CFG, save_local_model
from mmengine.config import Config

from mmcd.apis import ChangeInferencer, SceneChangePredictor
from mmcd.registry import MODELS

rasterio = pytest.importorskip('rasterio')
fiona = pytest.importorskip('fiona')
from affine import Affine  # noqa: E402  (installed with rasterio)
from rasterio.crs import CRS  # noqa: E402

H, W = 60, 70
TRANSFORM = Affine(0.5, 0, 500000.0, 0, -0.5, 4100000.0)
MEAN, STD = 2000., 800.


def write_tif(path, img, crs='EPSG:32631', transform=TRANSFORM, nodata=None):
    """A tiled, compressed GeoTIFF on the test grid."""
    return raster_helpers.write_tif(
        path, img, crs=crs, transform=transform, tiled=True, blockxsize=32,
        blockysize=32, compress='deflate', nodata=nodata)


def uint16_pair(seed=5, h=H, w=W):
    """A 4-band uint16 pair (values about 300..4100, never 0)."""
    a, b = make_pair(seed, h, w)
    extra = make_pair(seed + 1, h, w)
    a = np.dstack([a, extra[0][..., :1]]).astype(np.uint16) * 15 + 300
    b = np.dstack([b, extra[1][..., :1]]).astype(np.uint16) * 15 + 300
    return a, b


@pytest.fixture(scope='module')
def uint16_model(tmp_path_factory):
    """The local model on 4-band uint16 dates, normalised by the mean/std
    of its config (the data preprocessor's, as in training)."""
    cfg = copy.deepcopy(LOCAL_CFG)
    cfg['model']['data_preprocessor'].update(mean=[MEAN] * 8,
                                             std=[STD] * 8)
    cfg['model']['backbone'] = dict(type='TestLocalConvBackbone',
                                    in_channels=4)
    cfg['test_dataloader']['dataset']['pipeline'][0] = dict(
        type='LoadImagePairFromFile', color_type='unchanged',
        dtype='uint16')
    return save_local_model(tmp_path_factory.mktemp('uint16_model'), cfg)


@pytest.fixture(scope='module')
def uint16_inferencer(uint16_model):
    return ChangeInferencer(*uint16_model, device='cpu', show_progress=False)


def eager_probability(model_files, a, b):
    """P(changed) of the checkpoint's model on (x - mean) / std of the raw
    values, computed here without the inferencer."""
    cfg_path, ckpt = model_files
    model = MODELS.build(Config.fromfile(cfg_path).model)
    model.load_state_dict(torch.load(ckpt)['state_dict'])
    model.eval()
    x = np.concatenate([a, b], axis=2).astype(np.float32)
    x = torch.from_numpy((x - MEAN) / STD).permute(2, 0, 1)[None]
    with torch.no_grad():
        logits = model.encode_decode(x, [dict(img_shape=a.shape[:2])])
    return logits.softmax(1)[0, 1].numpy()


def test_uint16_four_band_scene_with_nodata(uint16_inferencer, uint16_model,
                                            tmp_path):
    a, b = uint16_pair()
    b[:, :15] = 0  # date B declares nodata 0: its left 15 columns
    a[40:, 50:] = [11, 22, 33, 44]  # nodata by the per-band values given
    a[:10, 50:, 0] = 11  # only band 1 holds its nodata value: valid
    pa = write_tif(tmp_path / 'a.tif', a)
    pb = write_tif(tmp_path / 'b.tif', b, nodata=0)
    out, prob_out = tmp_path / 'c.tif', tmp_path / 'p.tif'
    predictor = SceneChangePredictor(uint16_inferencer, tile=32, overlap=8,
                                     nodata=[11, 22, 33, 44])
    res = predictor(pa, pb, str(out), prob_out=str(prob_out))
    valid = np.ones((H, W), bool)
    valid[:, :15] = False
    valid[40:, 50:] = False
    expected = eager_probability(uint16_model, a, b)
    assert expected.max() - expected.min() > 0.05
    with rasterio.open(out) as ds, rasterio.open(prob_out) as ds_prob:
        assert ds.crs == CRS.from_epsg(32631) and ds.transform == TRANSFORM
        np.testing.assert_array_equal(ds.dataset_mask() > 0, valid)
        mask, prob = ds.read(1), ds_prob.read(1)
    np.testing.assert_array_equal(
        mask, np.where(valid & (expected > 0.5), 255, 0))
    np.testing.assert_allclose(prob[valid], expected[valid] * 255, atol=0.51)
    assert res['valid_pixels'] == valid.sum()
    assert res['changed_pixels'] == (mask > 0).sum() > 0


def test_band_count_and_dtype_must_be_what_the_model_takes(
        inferencer, uint16_inferencer, tmp_path):
    a, b = uint16_pair()
    # 5 bands for a 4-band model: an error naming the file, what it has,
    # what the model takes and the --bands to use
    five = [np.dstack([x, x[..., :1]]) for x in (a, b)]
    pa5 = write_tif(tmp_path / 'a5.tif', five[0])
    pb5 = write_tif(tmp_path / 'b5.tif', five[1])
    out = tmp_path / 'c.tif'
    predictor = SceneChangePredictor(uint16_inferencer, tile=32, overlap=8)
    with pytest.raises(ValueError) as e:
        predictor(pa5, pb5, str(out))
    for part in ('a5.tif has 5 uint16 bands', 'takes 4 bands per date',
                 '--bands 1 2 3 4'):
        assert part in str(e.value)
    # --bands picks them
    pa, pb = write_tif(tmp_path / 'a.tif', a), write_tif(tmp_path / 'b.tif',
                                                         b)
    SceneChangePredictor(uint16_inferencer, tile=32, overlap=8,
                         bands=[1, 2, 3, 4])(pa5, pb5, str(out))
    predictor(pa, pb, str(tmp_path / 'ref.tif'))
    with rasterio.open(out) as x, rasterio.open(tmp_path / 'ref.tif') as y:
        np.testing.assert_array_equal(x.read(), y.read())
    # a 4-band uint8 scene for the RGB uint8 model, without --bands
    rgbn = [(x // 16).astype(np.uint8) for x in (a, b)]
    p8a = write_tif(tmp_path / 'a8.tif', rgbn[0])
    p8b = write_tif(tmp_path / 'b8.tif', rgbn[1])
    with pytest.raises(ValueError) as e:
        SceneChangePredictor(inferencer, tile=32, overlap=8)(
            p8a, p8b, str(tmp_path / 'd.tif'))
    for part in ('a8.tif has 4 uint8 bands', 'takes 3 bands per date',
                 '--bands 1 2 3'):
        assert part in str(e.value)
    # the same as 4-band PNGs: the loader's refusal, naming --bands too
    for name, img in (('a8.png', rgbn[0]), ('b8.png', rgbn[1])):
        with rasterio.open(tmp_path / name, 'w', driver='PNG',
                           width=img.shape[1], height=img.shape[0], count=4,
                           dtype='uint8') as dst:
            dst.write(img.transpose(2, 0, 1))
    with pytest.raises(ValueError) as e:
        SceneChangePredictor(inferencer, tile=32, overlap=8)(
            str(tmp_path / 'a8.png'), str(tmp_path / 'b8.png'),
            str(tmp_path / 'd.tif'))
    assert 'a8.png' in str(e.value) and '--bands' in str(e.value)
    # uint16 scenes for the uint8 model: refused, naming both types
    with pytest.raises(ValueError, match='a.tif is uint16 but the config '
                       'expects uint8'):
        SceneChangePredictor(inferencer, tile=32, overlap=8,
                             bands=[1, 2, 3])(pa, pb, str(tmp_path / 'e.tif'))
    # a 3-band scene for the 4-band model: it lacks bands
    pa3 = write_tif(tmp_path / 'a3.tif', a[..., :3])
    pb3 = write_tif(tmp_path / 'b3.tif', b[..., :3])
    with pytest.raises(ValueError, match='a3.tif has 3 uint16 bands.*'
                       'lacks bands'):
        SceneChangePredictor(uint16_inferencer, tile=32, overlap=8)(
            pa3, pb3, str(tmp_path / 'f.tif'))
    assert not any((tmp_path / n).exists() for n in ('d.tif', 'e.tif',
                                                     'f.tif'))


def reproject_to_wgs84(img, factor=4):
    """``img`` (on TRANSFORM, EPSG:32631) on a WGS84 grid ``factor`` times
    finer (nearest), so that nearest back onto the UTM grid is exact."""
    from rasterio.warp import Resampling, calculate_default_transform
    from rasterio.warp import reproject
    h, w = img.shape[:2]
    left, top = TRANSFORM @ (0, 0)
    right, bottom = TRANSFORM @ (w, h)
    transform, dw, dh = calculate_default_transform(
        'EPSG:32631', 'EPSG:4326', w, h, left=left, bottom=bottom,
        right=right, top=top)
    transform = transform @ Affine.scale(1 / factor)
    dst = np.zeros((img.shape[2], dh * factor + 2, dw * factor + 2),
                   img.dtype)
    reproject(np.moveaxis(img, -1, 0), dst, src_transform=TRANSFORM,
              src_crs='EPSG:32631', dst_transform=transform,
              dst_crs='EPSG:4326', resampling=Resampling.nearest,
              dst_nodata=0)
    return np.moveaxis(dst, 0, -1), transform


@pytest.mark.parametrize('kind', ['shift', 'crs'])
def test_align_gives_the_prediction_on_date_a_grid(inferencer, tmp_path,
                                                   kind):
    """Date B shifted by (5, 3) pixels, or in EPSG:4326, read with
    ``align`` on date A's grid (EPSG:32631) gives the prediction of the
    pair already on one grid, away from date B's borders."""
    a, b = make_pair(11, H, W)
    a, b = np.maximum(a, 1), np.maximum(b, 1)  # 0 is the nodata value
    pa = write_tif(tmp_path / 'a.tif', a)
    pb = write_tif(tmp_path / 'b.tif', b)  # on A's grid
    valid = np.ones((H, W), bool)
    if kind == 'shift':
        dx, dy = 5, 3
        moved = write_tif(tmp_path / 'b_moved.tif', b[dy:, dx:],
                          transform=TRANSFORM @ Affine.translation(dx, dy))
        valid[:dy] = valid[:, :dx] = False
        inner = (slice(dy + 3, None), slice(dx + 3, None))
    else:
        b84, transform = reproject_to_wgs84(b)
        moved = write_tif(tmp_path / 'b_moved.tif', b84, crs='EPSG:4326',
                          transform=transform, nodata=0)
        inner = (slice(None), slice(None))

    def run(path_b, name, **kwargs):
        SceneChangePredictor(inferencer, tile=32, overlap=8, **kwargs)(
            pa, path_b, str(tmp_path / f'{name}.tif'),
            prob_out=str(tmp_path / f'{name}_prob.tif'))
        with rasterio.open(tmp_path / f'{name}.tif') as ds, \
                rasterio.open(tmp_path / f'{name}_prob.tif') as ds_prob:
            assert ds.crs == CRS.from_epsg(32631)
            assert ds.transform == TRANSFORM and ds.shape == (H, W)
            return ds.read(1), ds_prob.read(1), ds.dataset_mask() > 0

    with pytest.raises(ValueError, match='--align'):
        SceneChangePredictor(inferencer, tile=32, overlap=8)(
            pa, moved, str(tmp_path / 'refused.tif'))
    mask, prob, mask_valid = run(moved, 'aligned', align=True,
                                 resampling='nearest')
    ref_mask, ref_prob, _ = run(pb, 'reference')
    np.testing.assert_array_equal(mask_valid, valid)
    assert not mask[~valid].any()
    np.testing.assert_array_equal(mask[inner], ref_mask[inner])
    np.testing.assert_array_equal(prob[inner], ref_prob[inner])
    assert ref_mask[inner].any() and not ref_mask[inner].all()


def test_polygons_as_geopackage_and_rfc7946_geojson(inferencer, tmp_path):
    """Read back with fiona: the GeoPackage in the scene's CRS with an area
    per polygon, the GeoJSON in WGS84 lon/lat (no crs member), one polygon
    per 4-connected changed component."""
    from rasterio.warp import transform_bounds, transform_geom
    from shapely.geometry import shape
    a, b = make_pair(7, 100, 130)
    for rows, cols in ((slice(60, 80), slice(10, 30)),
                       (slice(70, 95), slice(85, 125))):
        b[rows, cols] = 255 - b[rows, cols]  # more changed areas
    pa, pb = write_tif(tmp_path / 'a.tif', a), write_tif(tmp_path / 'b.tif',
                                                         b)
    predictor = SceneChangePredictor(inferencer, tile=64, overlap=16)
    gpkg, geojson = tmp_path / 'change.gpkg', tmp_path / 'change.geojson'
    res = predictor(pa, pb, str(tmp_path / 'c.tif'), vector_out=str(gpkg))
    res_json = predictor(pa, pb, str(tmp_path / 'c2.tif'),
                         vector_out=str(geojson))
    with rasterio.open(tmp_path / 'c.tif') as ds:
        mask = ds.read(1) > 0
    components = cv2.connectedComponents(mask.astype(np.uint8),
                                         connectivity=4)[0] - 1
    assert components > 1
    assert fiona.listlayers(str(gpkg)) == ['change']
    with fiona.open(gpkg) as src:
        assert src.driver == 'GPKG' and src.crs == CRS.from_epsg(32631)
        features = list(src)
    assert len(features) == res['polygons'] == components
    areas = [f['properties']['area'] for f in features]
    assert sum(f['properties']['area_px'] for f in features) == \
        pytest.approx(mask.sum())
    for f, area in zip(features, areas):
        assert area == pytest.approx(shape(f['geometry']).area)
        assert area == pytest.approx(f['properties']['area_px'] * 0.25)

    raw = json.loads(geojson.read_text())
    assert 'crs' not in raw  # RFC 7946: WGS84 only, no crs member
    west, south, east, north = transform_bounds(
        'EPSG:32631', 'EPSG:4326', *rasterio.open(pa).bounds)
    with fiona.open(geojson) as src:
        assert src.crs.to_epsg() == 4326
        features_84 = list(src)
    assert len(features_84) == res_json['polygons'] == components
    for f, area in zip(features_84, areas):
        lon, lat = np.array(f['geometry']['coordinates'][0]).T
        assert west - 1e-6 <= lon.min() and lon.max() <= east + 1e-6
        assert south - 1e-6 <= lat.min() and lat.max() <= north + 1e-6
        assert f['properties']['area'] == pytest.approx(area)
        # back in UTM, the polygon has its area (reprojected, not relabelled)
        back = transform_geom('EPSG:4326', 'EPSG:32631', f['geometry'])
        assert shape(back).area == pytest.approx(area, rel=1e-3, abs=0.01)

    # unknown formats and GeoPackage in another CRS are refused up front
    with pytest.raises(ValueError, match='.gpkg'):
        predictor(pa, pb, str(tmp_path / 'd.tif'),
                  vector_out=str(tmp_path / 'change.shp'))
    with pytest.raises(ValueError, match='GeoPackage is always'):
        predictor(pa, pb, str(tmp_path / 'd.tif'),
                  vector_out=str(tmp_path / 'e.gpkg'), vector_scene_crs=True)
    assert not (tmp_path / 'd.tif').exists()


def test_threaded_pipeline_gives_the_same_bytes(uint16_inferencer, tmp_path,
                                                monkeypatch):
    """Reading and writing in their own threads (prefetch) gives files
    identical byte for byte to one thread; an error while reading stops the
    run and leaves no output."""
    from mmcd.apis.scene_io import RasterSceneReader
    a, b = uint16_pair(9, 80, 100)
    b[:30, :40] = 0
    pa = write_tif(tmp_path / 'a.tif', a)
    pb = write_tif(tmp_path / 'b.tif', b, nodata=0)
    threads = set()
    read = RasterSceneReader.read

    def spy(self, window):
        threads.add(threading.current_thread().name.split('_')[0])
        return read(self, window)

    monkeypatch.setattr(RasterSceneReader, 'read', spy)
    files = {}
    for prefetch in (0, 2):
        threads.clear()
        out = tmp_path / f'c{prefetch}.tif'
        prob = tmp_path / f'p{prefetch}.tif'
        SceneChangePredictor(uint16_inferencer, tile=32, overlap=8,
                             stripe_width=64, prefetch=prefetch)(
                                 pa, pb, str(out), prob_out=str(prob))
        files[prefetch] = (out.read_bytes(), prob.read_bytes())
        assert threads == ({'MainThread'} if prefetch == 0 else
                           {'scene-reader'})
    assert files[0] == files[2]

    calls = []

    def failing(self, window):
        calls.append(window)
        if len(calls) == 5:
            raise OSError('disk gone')
        return read(self, window)

    monkeypatch.setattr(RasterSceneReader, 'read', failing)
    with pytest.raises(OSError, match='disk gone'):
        SceneChangePredictor(uint16_inferencer, tile=32, overlap=8,
                             prefetch=2)(pa, pb, str(tmp_path / 'x.tif'))
    assert not [n for n in os.listdir(tmp_path) if n.startswith(('x', '.x'))]
    with pytest.raises(ValueError, match='prefetch'):
        SceneChangePredictor(uint16_inferencer, prefetch=-1)


@pytest.mark.slow
def test_infer_tool_scene_options(uint16_model, tmp_path, capsys):
    """tools/infer.py --scene with --bands, per-band --nodata, --align and
    --vector .gpkg (in process), and its option checks."""
    import importlib.util

    from api_test_utils import REPO
    spec = importlib.util.spec_from_file_location(
        'infer_tool', os.path.join(REPO, 'tools', 'infer.py'))
    infer_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(infer_tool)
    config, ckpt = uint16_model
    a, b = uint16_pair()
    a[40:, 50:] = [11, 22, 33, 44]
    five_a = write_tif(tmp_path / 'a.tif', np.dstack([a, a[..., :1]]))
    five_b = write_tif(tmp_path / 'b.tif', np.dstack([b, b[..., :1]])[2:],
                       transform=TRANSFORM @ Affine.translation(0, 2))
    out = tmp_path / 'c.tif'
    infer_tool.main([config, ckpt, '--scene', five_a, five_b, '--out',
                     str(out), '--bands', '1', '2', '3', '4', '--nodata',
                     '11', '22', '33', '44', '--align', '--align-resampling',
                     'nearest', '--vector', str(tmp_path / 'c.gpkg'),
                     '--tile', '32', '--overlap', '8', '--no-progress'])
    assert 'polygons -> ' in capsys.readouterr().out
    valid = np.ones((H, W), bool)
    valid[:2] = False
    valid[40:, 50:] = False
    with rasterio.open(out) as ds:
        np.testing.assert_array_equal(ds.dataset_mask() > 0, valid)
    with fiona.open(tmp_path / 'c.gpkg') as src:
        assert src.crs == CRS.from_epsg(32631) and len(src) > 0
    for args, message in (
            (['--scene', five_a, five_b, '--vector-scene-crs'],
             '--vector-scene-crs applies to --vector'),
            (['--pair', five_a, five_b, '--align'], 'only apply to --scene'),
            (['--scene', five_a, five_b, '--align-resampling', 'nearest'],
             '--align-resampling applies to --align')):
        with pytest.raises(SystemExit):
            infer_tool.parse_args([config, ckpt, *args, '--out', 'x.tif'])
        assert message in capsys.readouterr().err


def test_scene_takes_the_bands_of_a_band_folder_config(tmp_path):
    """A model trained with LoadBandFolderPair(bands=[3, 1]) (e.g. OSCD's)
    runs on stacked multi-band scenes, taking bands 3 and 1 by default."""
    cfg = copy.deepcopy(LOCAL_CFG)
    cfg['model']['data_preprocessor'].update(mean=[MEAN] * 4,
                                             std=[STD] * 4)
    cfg['model']['backbone'] = dict(type='TestLocalConvBackbone',
                                    in_channels=2)
    cfg['test_dataloader']['dataset']['pipeline'][0] = dict(
        type='LoadBandFolderPair', bands=[3, 1])
    files = save_local_model(tmp_path, cfg)
    inferencer = ChangeInferencer(*files, device='cpu', show_progress=False)
    a, b = uint16_pair()
    pa, pb = write_tif(tmp_path / 'a.tif', a), write_tif(tmp_path / 'b.tif',
                                                         b)
    SceneChangePredictor(inferencer, tile=32, overlap=8)(
        pa, pb, str(tmp_path / 'c.tif'), prob_out=str(tmp_path / 'p.tif'))
    expected = eager_probability(files, a[..., [2, 0]], b[..., [2, 0]])
    with rasterio.open(tmp_path / 'p.tif') as ds:
        np.testing.assert_allclose(ds.read(1), expected * 255, atol=0.51)


def test_float32_scene_nan_is_nodata(tmp_path):
    """float32 scenes run with the model's normalisation; NaN pixels are
    nodata and never reach the model (they would spread over the blend)."""
    cfg = copy.deepcopy(LOCAL_CFG)
    cfg['model']['data_preprocessor'].update(mean=[MEAN] * 8,
                                             std=[STD] * 8)
    cfg['model']['backbone'] = dict(type='TestLocalConvBackbone',
                                    in_channels=4)
    cfg['test_dataloader']['dataset']['pipeline'][0] = dict(
        type='LoadImagePairFromFile', color_type='unchanged',
        dtype='float32')
    files = save_local_model(tmp_path, cfg)
    inferencer = ChangeInferencer(*files, device='cpu', show_progress=False)
    a, b = (x.astype(np.float32) for x in uint16_pair())
    b[:, :10] = np.nan
    pa, pb = write_tif(tmp_path / 'a.tif', a), write_tif(tmp_path / 'b.tif',
                                                         b)
    res = SceneChangePredictor(inferencer, tile=32, overlap=8)(
        pa, pb, str(tmp_path / 'c.tif'), prob_out=str(tmp_path / 'p.tif'))
    valid = np.ones((H, W), bool)
    valid[:, :10] = False
    expected = eager_probability(files, a, np.nan_to_num(b, nan=0))
    with rasterio.open(tmp_path / 'c.tif') as ds, \
            rasterio.open(tmp_path / 'p.tif') as ds_prob:
        np.testing.assert_array_equal(ds.dataset_mask() > 0, valid)
        prob = ds_prob.read(1)
    np.testing.assert_allclose(prob[valid], expected[valid] * 255, atol=0.51)
    assert res['valid_pixels'] == valid.sum()
