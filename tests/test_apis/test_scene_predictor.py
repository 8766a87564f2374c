"""SceneChangePredictor: blending, tiled == whole, GeoTIFF in/out, nodata,
mismatched scenes, polygons."""
import json
import re
import sys

import numpy as np
import pytest
from api_test_utils import make_pair, write_png
from PIL import Image

from mmcd.apis import SceneChangePredictor, blend_weights, tile_starts
from mmcd.apis.scene_io import import_rasterio

rasterio = pytest.importorskip('rasterio')
from affine import Affine  # noqa: E402  (installed with rasterio)
from rasterio.crs import CRS  # noqa: E402

H, W = 100, 130
TRANSFORM = Affine(0.5, 0, 500000.0, 0, -0.5, 4100000.0)


def test_tile_starts_and_blend_weights_by_hand():
    assert tile_starts(100, 64, 48) == ([0, 36], 64)
    assert tile_starts(130, 64, 48) == ([0, 48, 66], 64)
    assert tile_starts(50, 64, 48) == ([0], 50)
    # overlap 16: 4 pixels of weight 0, then (d - 3) / 9 up to 1
    w = blend_weights(64, True, True, 16)
    np.testing.assert_allclose(w[:13], [0, 0, 0, 0] + [k / 9 for k in
                                                       range(1, 10)])
    np.testing.assert_allclose(w[::-1], w)
    assert (w[12:52] == 1).all()
    # two tiles overlapping by 16 cross-fade: weights sum to 1
    first = blend_weights(64, False, True, 16)
    second = blend_weights(64, True, False, 16)
    np.testing.assert_allclose(first[48:] + second[:16], np.ones(16))
    assert (first[:48] == 1).all() and (second[16:] == 1).all()
    np.testing.assert_array_equal(blend_weights(8, True, True, 0),
                                  np.ones(8))


def inner_edge_band(size, tile, width=2):
    """Pixels less than ``width`` from a tile edge inside the scene."""
    band = np.zeros(size, bool)
    starts, length = tile_starts(size, tile, tile)
    for s in starts:
        if s > 0:
            band[s:s + width] = True
        if s + length < size:
            band[s + length - width:s + length] = True
    return band


@pytest.fixture(scope='module')
def scene():
    return make_pair(7, H, W)


def test_tiled_equals_whole_image_and_no_seams(inferencer, scene):
    a, b = scene
    whole = inferencer((a, b))['probabilities'][0]
    assert whole.max() - whole.min() > 0.05
    predictor = SceneChangePredictor(inferencer, tile=64, overlap=16,
                                     batch_size=3)
    tiled, valid = predictor.predict_arrays(a, b)
    assert valid.all()
    # the model sees 2 pixels around; overlap // 4 = 4 pixels are dropped
    # at inner tile edges: the blend equals the whole-image prediction
    np.testing.assert_allclose(tiled, whole, atol=1e-5)

    # without overlap the same tiles leave seams at their inner edges...
    hard, _ = SceneChangePredictor(inferencer, tile=64, overlap=0,
                                   batch_size=3).predict_arrays(a, b)
    diff = np.abs(hard - whole)
    near_edge = (inner_edge_band(H, 64)[:, None]
                 | inner_edge_band(W, 64)[None, :])
    assert diff[near_edge].max() > 1e-3
    # ...and nowhere else
    np.testing.assert_allclose(hard[~near_edge], whole[~near_edge],
                               atol=1e-5)


def write_tif(path, img, crs='EPSG:32633', transform=TRANSFORM,
              compress='lzw', nodata=None):
    profile = dict(driver='GTiff', height=img.shape[0], width=img.shape[1],
                   count=img.shape[2], dtype=img.dtype.name,
                   transform=transform, tiled=True, blockxsize=32,
                   blockysize=32, compress=compress, nodata=nodata)
    if crs is not None:
        profile['crs'] = crs
    with rasterio.open(path, 'w', **profile) as ds:
        ds.write(np.moveaxis(img, -1, 0))
    return str(path)


def test_geotiff_keeps_crs_transform_compression(inferencer, scene,
                                                 tmp_path):
    a, b = scene
    pa = write_tif(tmp_path / 'a.tif', a)
    pb = write_tif(tmp_path / 'b.tif', b)
    out, prob_out = tmp_path / 'change.tif', tmp_path / 'prob.tif'
    vector = tmp_path / 'change.geojson'
    predictor = SceneChangePredictor(inferencer, tile=64, overlap=16)
    res = predictor(pa, pb, str(out), prob_out=str(prob_out),
                    vector_out=str(vector), vector_scene_crs=True)
    whole = inferencer((a, b))['probabilities'][0]
    expected = (whole > 0.5).astype(np.uint8) * 255
    with rasterio.open(out) as ds:
        assert ds.crs == CRS.from_epsg(32633)
        assert ds.transform == TRANSFORM
        assert ds.compression.value == 'LZW'
        assert ds.count == 1 and ds.dtypes[0] == 'uint8'
        mask = ds.read(1)
    np.testing.assert_array_equal(mask, expected)
    with rasterio.open(prob_out) as ds:
        assert ds.crs == CRS.from_epsg(32633)
        np.testing.assert_allclose(ds.read(1), whole * 255, atol=0.51)
    assert res['changed_pixels'] == int((expected > 0).sum()) > 0
    assert res['valid_pixels'] == H * W

    # polygons (GeoJSON in the scene's CRS, on request): in CRS
    # coordinates, together exactly the changed pixels
    fc = json.loads(vector.read_text())
    assert fc['crs']['properties']['name'].endswith('EPSG::32633')
    assert len(fc['features']) == res['polygons'] > 0
    assert sum(f['properties']['area_px'] for f in fc['features']) == \
        pytest.approx(res['changed_pixels'])
    for f in fc['features']:
        assert f['properties']['area'] == pytest.approx(
            f['properties']['area_px'] * 0.25)
        x, y = np.array(f['geometry']['coordinates'][0]).T
        assert 500000 <= x.min() and x.max() <= 500000 + W * 0.5
        assert 4100000 - H * 0.5 <= y.min() and y.max() <= 4100000
    # minimum-area filter
    areas = sorted(f['properties']['area_px'] for f in fc['features'])
    min_area = areas[-1]
    vector2 = tmp_path / 'big.geojson'
    predictor(pa, pb, str(tmp_path / 'c2.tif'), vector_out=str(vector2),
              min_area=min_area, vector_scene_crs=True)
    big = json.loads(vector2.read_text())['features']
    assert len(big) == sum(a >= min_area for a in areas) >= 1

    # existing outputs are refused, inputs never written
    with pytest.raises(FileExistsError, match='change.tif'):
        predictor(pa, pb, str(out))
    with pytest.raises(ValueError, match='input scenes'):
        predictor(pa, pb, pa, overwrite=True)


def test_jpeg_compressed_input_gives_lossless_mask(inferencer, scene,
                                                   tmp_path):
    a, b = scene
    pa = write_tif(tmp_path / 'a.tif', a, compress='jpeg')
    pb = write_tif(tmp_path / 'b.tif', b, compress='jpeg')
    SceneChangePredictor(inferencer, tile=64, overlap=16)(
        pa, pb, str(tmp_path / 'c.tif'))
    with rasterio.open(tmp_path / 'c.tif') as ds:
        assert ds.compression.value == 'DEFLATE'
        assert set(np.unique(ds.read(1))) <= {0, 255}


@pytest.mark.parametrize('kind', ['crs', 'transform', 'size', 'bands',
                                  'georef'])
def test_mismatched_scenes_are_refused(inferencer, scene, tmp_path, kind):
    a, b = scene
    pa = write_tif(tmp_path / 'a.tif', a)
    other = dict(
        crs=dict(img=b, crs='EPSG:32634'),
        transform=dict(img=b, transform=TRANSFORM * Affine.translation(1, 0)),
        size=dict(img=b[:90]),
        bands=dict(img=np.dstack([b, b[..., :1]])),
        georef=dict(img=b, crs=None, transform=Affine.identity()))[kind]
    pb = write_tif(tmp_path / 'b.tif', **other)
    message = dict(crs='different CRS', transform='different geotransforms',
                   size='differ in size', bands='bands',
                   georef='different CRS')[kind]
    predictor = SceneChangePredictor(inferencer, tile=64, overlap=16)
    with pytest.raises(ValueError, match=message) as e:
        predictor(pa, pb, str(tmp_path / 'c.tif'))
    assert 'a.tif' in str(e.value) and 'b.tif' in str(e.value)
    # a grid mismatch names the opt-in alignment
    assert ('--align' in str(e.value)) == (kind != 'bands')
    assert not (tmp_path / 'c.tif').exists()


def test_nodata_is_masked_and_never_change(inferencer, scene, tmp_path):
    a, b = scene
    a, b = a.copy(), b.copy()
    a[a == 0] = 1  # 0 is the nodata value: keep it out of the image data
    b[b == 0] = 1
    b[:, :40] = 0  # the left 40 columns of date B have no data
    a[:, 100:] = 0  # the right 30 of date A
    pa = write_tif(tmp_path / 'a.tif', a, nodata=0)
    pb = write_tif(tmp_path / 'b.tif', b, nodata=0)
    out = tmp_path / 'c.tif'
    res = SceneChangePredictor(inferencer, tile=32, overlap=8)(
        pa, pb, str(out))
    valid = np.ones((H, W), bool)
    valid[:, :40] = valid[:, 100:] = False
    with rasterio.open(out) as ds:
        np.testing.assert_array_equal(ds.dataset_mask() > 0, valid)
        mask = ds.read(1)
    assert (mask[~valid] == 0).all()
    assert res['valid_pixels'] == valid.sum()
    # 4 tile rows x the tile columns that hold some valid pixel
    xs, _ = tile_starts(W, 32, 24)
    all_nodata_cols = sum(x + 32 <= 40 or x >= 100 for x in xs)
    assert res['tiles'] == 4 * (len(xs) - all_nodata_cols)


def test_plain_png_scenes(inferencer, scene, tmp_path):
    a, b = scene
    pa, pb = write_png(tmp_path / 'a.png', a), write_png(tmp_path / 'b.png',
                                                         b)
    out = tmp_path / 'c.png'
    vector = tmp_path / 'c.geojson'
    res = SceneChangePredictor(inferencer, tile=64, overlap=16)(
        pa, pb, str(out), vector_out=str(vector), min_area=2)
    whole = inferencer((a, b))['probabilities'][0]
    np.testing.assert_array_equal(np.array(Image.open(out)),
                                  (whole > 0.5).astype(np.uint8) * 255)
    fc = json.loads(vector.read_text())
    assert 'crs' not in fc and len(fc['features']) == res['polygons']
    assert all(f['properties']['area_px'] >= 2 for f in fc['features'])
    # georeferenced scenes must stay GeoTIFF
    ta, tb = write_tif(tmp_path / 'a.tif', a), write_tif(tmp_path / 'b.tif',
                                                         b)
    with pytest.raises(ValueError, match='GeoTIFF'):
        SceneChangePredictor(inferencer, tile=64, overlap=16)(
            ta, tb, str(tmp_path / 'd.png'))


def test_bad_options_and_missing_rasterio(inferencer, monkeypatch):
    with pytest.raises(ValueError, match='overlap'):
        SceneChangePredictor(inferencer, tile=64, overlap=64)
    with pytest.raises(ValueError, match='tile'):
        SceneChangePredictor(inferencer, tile=0)
    monkeypatch.setitem(sys.modules, 'rasterio', None)
    with pytest.raises(ImportError, match='pip install rasterio'):
        import_rasterio('reading the scene x.tif')


def test_column_stripes_give_the_same_scene(inferencer, scene, tmp_path):
    """Stripes (tiles across their borders run twice) change nothing: the
    blend, the mask, the nodata mask and the probabilities are those of one
    stripe over the whole width, and the output GeoTIFF is tiled."""
    a, b = scene
    whole = inferencer((a, b))['probabilities'][0]
    one = SceneChangePredictor(inferencer, tile=32, overlap=8)
    striped = SceneChangePredictor(inferencer, tile=32, overlap=8,
                                   stripe_width=40)
    prob, valid = striped.predict_arrays(a, b)
    assert valid.all()
    np.testing.assert_allclose(prob, whole, atol=1e-5)

    a, b = a.copy(), b.copy()
    a[a == 0] = 1
    b[b == 0] = 1
    b[10:50, :45] = 0  # nodata across a stripe border
    pa = write_tif(tmp_path / 'a.tif', a, nodata=0)
    pb = write_tif(tmp_path / 'b.tif', b, nodata=0)
    results = {}
    for name, predictor in (('one', one), ('striped', striped)):
        res = predictor(pa, pb, str(tmp_path / f'{name}.tif'),
                        prob_out=str(tmp_path / f'{name}_prob.tif'))
        with rasterio.open(tmp_path / f'{name}.tif') as ds, \
                rasterio.open(tmp_path / f'{name}_prob.tif') as ds_prob:
            assert ds.profile['tiled'] and ds.block_shapes[0] == (32, 32)
            results[name] = (res, ds.read(1), ds.dataset_mask(),
                             ds_prob.read(1))
    (res_one, *arrays_one), (res_striped, *arrays_striped) = \
        results['one'], results['striped']
    for x, y in zip(arrays_one, arrays_striped):
        np.testing.assert_array_equal(x, y)
    assert not arrays_one[1][10:50, :45].any()
    assert res_one['changed_pixels'] == res_striped['changed_pixels'] > 0
    # stripes of 32 columns (40 rounded down to the 32-pixel blocks): the
    # tiles across each of the 4 borders run twice
    assert res_striped['tiles'] > res_one['tiles']

    # an untiled input gives a tiled output
    pc = tmp_path / 'strips.tif'
    with rasterio.open(pa) as src:
        profile = dict(src.profile, tiled=False)
        profile.pop('blockxsize'), profile.pop('blockysize')
        with rasterio.open(pc, 'w', **profile) as dst:
            dst.write(src.read())
    one(str(pc), pb, str(tmp_path / 'from_strips.tif'))
    with rasterio.open(tmp_path / 'from_strips.tif') as ds:
        assert ds.profile['tiled'] and ds.block_shapes[0] == (512, 512)
        np.testing.assert_array_equal(ds.read(1), arrays_one[0])


@pytest.mark.parametrize('parts', [2, 3])
def test_parts_merged_equal_one_process(inferencer, scene, tmp_path, parts):
    """A scene shared by ``parts`` processes (predict_part for each part,
    then __call__(parts=...)) gives one process's files byte for byte: the
    mask, its nodata mask, the probabilities, the polygons; every part runs
    some stripe, and together they run at least one process's tiles."""
    a, b = scene
    a, b = a.copy(), b.copy()
    a[a == 0] = 1
    b[b == 0] = 1
    b[10:50, 20:45] = 0  # nodata across a part border
    pa = write_tif(tmp_path / 'a.tif', a, nodata=0)
    pb = write_tif(tmp_path / 'b.tif', b, nodata=0)
    predictor = SceneChangePredictor(inferencer, tile=32, overlap=8)
    one = predictor(pa, pb, str(tmp_path / 'one.tif'),
                    prob_out=str(tmp_path / 'one_prob.tif'),
                    vector_out=str(tmp_path / 'one.gpkg'))
    paths = [str(tmp_path / f'part{k}.tif') for k in range(parts)]
    runs = [predictor.predict_part(pa, pb, paths[k],
                                   str(tmp_path / 'merged.tif'), k, parts)
            for k in range(parts)]
    assert all(run['stripes'] for run in runs)
    merged = predictor(pa, pb, str(tmp_path / 'merged.tif'),
                       prob_out=str(tmp_path / 'merged_prob.tif'),
                       vector_out=str(tmp_path / 'merged.gpkg'), parts=paths)
    for key in ('changed_pixels', 'valid_pixels', 'polygons'):
        assert merged[key] == one[key], key
    assert one['changed_pixels'] > 0 and one['valid_pixels'] < H * W
    assert merged['tiles'] == sum(run['tiles'] for run in runs) >= \
        one['tiles']
    for suffix in ('.tif', '_prob.tif'):
        with rasterio.open(tmp_path / f'one{suffix}') as x, \
                rasterio.open(tmp_path / f'merged{suffix}') as y:
            np.testing.assert_array_equal(x.read(), y.read())
            np.testing.assert_array_equal(x.dataset_mask(), y.dataset_mask())
            assert x.profile == y.profile
    fiona = pytest.importorskip('fiona')
    with fiona.open(tmp_path / 'one.gpkg') as x, \
            fiona.open(tmp_path / 'merged.gpkg') as y:
        assert [dict(f.properties) for f in x] == \
            [dict(f.properties) for f in y]
    with pytest.raises(ValueError, match='not a part of this'):
        predictor(pa, pb, str(tmp_path / 'bad.tif'), parts=[pa])


def test_progress_counts_the_stripes_run(inferencer, scene, tmp_path,
                                         capsys, monkeypatch):
    """The progress line names the stripes this call runs (a part's share
    of a split scene), not the whole scene's."""
    a, b = scene
    pa = write_tif(tmp_path / 'a.tif', a)
    pb = write_tif(tmp_path / 'b.tif', b)
    predictor = SceneChangePredictor(inferencer, tile=32, overlap=8)
    monkeypatch.setattr(inferencer, 'show_progress', True)
    capsys.readouterr()
    run = predictor.predict_part(pa, pb, str(tmp_path / 'part0.tif'),
                                 str(tmp_path / 'merged.tif'), 0, 3)
    printed = capsys.readouterr().out
    rows = re.search(r'\((\d+) tile rows x (\d+) stripes\)', printed)
    assert rows, printed
    assert int(rows.group(2)) == len(run['stripes']) == 1


def test_memory_does_not_grow_with_the_scene(inferencer):
    """What the predictor allocates (numpy arrays, traced) stays the same
    for a scene 4 times as wide and twice as high: it is bounded by the tile
    batch and one band of tile rows x stripe width."""
    import tracemalloc

    from mmcd.apis.scene_io import ArraySceneReader

    def peak(height, width):
        img = np.random.default_rng(0).integers(0, 256, (height, width, 3),
                                                dtype=np.uint8)
        reader = ArraySceneReader(img, 'scene')
        predictor = SceneChangePredictor(inferencer, tile=32, overlap=8,
                                         stripe_width=64)
        tracemalloc.start()
        try:
            predictor._predict(reader, reader, lambda *args: None)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak(96, 256)  # first-call allocations of the model and pipeline
    small, large = peak(96, 256), peak(192, 1024)
    assert large < 1.3 * small, (small, large)


def test_library_call_leaves_the_allocator_alone(inferencer, scene, tmp_path,
                                                 monkeypatch):
    """limit_heap_growth changes the whole process: the predictor never
    calls it (the CLI does, see test_infer_tool.py), and plain scenes are
    decoded through the loader's public load_date."""
    import mmcd.apis.scene_io as scene_io
    import mmcd.apis.scene_predictor as scene_predictor
    heap_calls, decoded = [], []

    def no_heap_change(*args):
        heap_calls.append(args)
        return True

    monkeypatch.setattr(scene_io, 'limit_heap_growth', no_heap_change)
    monkeypatch.setattr(scene_predictor, 'limit_heap_growth',
                        no_heap_change, raising=False)
    load_date = inferencer.loader.load_date

    def spy(path, what='image'):
        decoded.append((path, what))
        return load_date(path, what)

    monkeypatch.setattr(inferencer.loader, 'load_date', spy)
    a, b = scene
    pa, pb = write_png(tmp_path / 'a.png', a), write_png(tmp_path / 'b.png',
                                                         b)
    SceneChangePredictor(inferencer, tile=64, overlap=16)(
        pa, pb, str(tmp_path / 'c.png'))
    assert heap_calls == []
    assert decoded == [(pa, 'date-A scene'), (pb, 'date-B scene')]
