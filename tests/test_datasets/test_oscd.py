"""OSCDDataset and LoadBandFolderPair on a synthetic OSCD-layout folder.

The folder mimics the released archives: per city ``imgs_1`` / ``imgs_2``
with one uint16 TIFF per band at 10 m (24 x 24 px), 20 m (12 x 12) and 60 m
(4 x 4), ``cm/cm.png`` (0/255) and ``cm/<city>-cm.tif`` (1/2) in the label
folders, comma-separated ``train.txt`` / ``test.txt``.
"""
import os.path as osp

import numpy as np
import pytest
import rasterio
from affine import Affine
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

from mmcd.datasets import OSCDDataset
from mmcd.datasets.transforms import (SENTINEL2_BANDS, LoadBandFolderPair,
                                      LoadChangeAnnotation)
from mmcd.datasets.transforms.band_folder import resample_band

IMAGES = 'Onera Satellite Change Detection dataset - Images'
TRAIN_LABELS = 'Onera Satellite Change Detection dataset - Train Labels'
TEST_LABELS = 'Onera Satellite Change Detection dataset - Test Labels'
TRAIN, TEST = ['rennes', 'aguasclaras', 'lasvegas'], ['paris', 'dubai']
SIZE = 24
FACTOR = {b: 1 for b in ('B02', 'B03', 'B04', 'B08')}
FACTOR.update({b: 2 for b in ('B05', 'B06', 'B07', 'B8A', 'B11', 'B12')})
FACTOR.update({b: 6 for b in ('B01', 'B09', 'B10')})
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def band_values(band: str, date: int, city_index: int) -> np.ndarray:
    """A band at its own resolution: a ramp along x, offset per band/date."""
    n = SIZE // FACTOR[band]
    offset = 1000 * (SENTINEL2_BANDS.index(band) + 1) + 100 * date \
        + 10 * city_index
    ramp = 60 * FACTOR[band] * np.arange(n)  # 60 per 10 m pixel
    return np.broadcast_to(offset + ramp, (n, n)).astype(np.uint16)


def write_tif(path, data, transform=None, crs=None):
    profile = dict(driver='GTiff', width=data.shape[1],
                   height=data.shape[0], count=1, dtype=data.dtype.name)
    if transform is not None:
        profile.update(transform=transform, crs=crs)
    with rasterio.open(path, 'w', **profile) as dst:
        dst.write(data, 1)


def change_map(city_index: int) -> np.ndarray:
    cm = np.zeros((SIZE, SIZE), bool)
    cm[4 + city_index:10 + city_index, 6:14] = True
    return cm


def write_oscd(root):
    images = root / IMAGES
    for i, city in enumerate(TRAIN + TEST + ['notlisted']):
        for date, prefix in ((1, 'S2A_OPER_MSI_L1C_TL_SGS__T31UFQ_'),
                             (2, 'T31UFQ_20180330T064621_')):
            folder = images / city / f'imgs_{date}'
            folder.mkdir(parents=True)
            for band in SENTINEL2_BANDS:
                write_tif(folder / f'{prefix}{band}.tif',
                          band_values(band, date, i))
        labels = root / (TEST_LABELS if city in TEST else TRAIN_LABELS)
        (labels / city / 'cm').mkdir(parents=True)
        cm = change_map(i)
        Image.fromarray(cm.astype(np.uint8) * 255).save(
            labels / city / 'cm' / 'cm.png')
        write_tif(labels / city / 'cm' / f'{city}-cm.tif',
                  cm.astype(np.uint8) + 1)
    (images / 'train.txt').write_text(','.join(TRAIN) + '\n')
    (images / 'test.txt').write_text(','.join(TEST))
    return root


@pytest.fixture(scope='module')
def oscd_root(tmp_path_factory):
    return write_oscd(tmp_path_factory.mktemp('oscd'))


def bilinear_ramp(band: str, date: int, city_index: int) -> np.ndarray:
    """What bilinear resampling (pixel centres, edges extended) gives for
    :func:`band_values` on the 10 m grid."""
    f, n = FACTOR[band], SIZE // FACTOR[band]
    offset = 1000 * (SENTINEL2_BANDS.index(band) + 1) + 100 * date \
        + 10 * city_index
    # 10 m pixel centre x + 0.5 sits at band pixel (x + 0.5) / f - 0.5
    pos = np.clip((np.arange(SIZE) + 0.5) / f - 0.5, 0, n - 1)
    return np.broadcast_to(offset + 60 * f * pos, (SIZE, SIZE))


def test_dataset_lists_the_split(oscd_root):
    train = OSCDDataset(data_root=str(oscd_root), pipeline=[])
    assert [d['city'] for d in train] == TRAIN  # the split list's order
    info = train[1]
    assert info['img_path'] == osp.join(str(oscd_root), IMAGES,
                                        'aguasclaras', 'imgs_1')
    assert info['img_path2'].endswith(osp.join('aguasclaras', 'imgs_2'))
    assert info['seg_map_path'] == osp.join(str(oscd_root), TRAIN_LABELS,
                                            'aguasclaras', 'cm', 'cm.png')
    assert info['label_encoding'] == '0-255'
    test = OSCDDataset(
        data_root=str(oscd_root), ann_file=IMAGES + '/test.txt',
        data_prefix=dict(img_path=IMAGES, seg_map_path=TEST_LABELS),
        label_file='cm/{city}-cm.tif', label_encoding='1-2', pipeline=[])
    assert [d['city'] for d in test] == TEST
    assert test[0]['seg_map_path'].endswith(
        osp.join(TEST_LABELS, 'paris', 'cm', 'paris-cm.tif'))
    unlabelled = OSCDDataset(data_root=str(oscd_root),
                             data_prefix=dict(img_path=IMAGES), pipeline=[])
    assert 'seg_map_path' not in unlabelled[0]


def test_dataset_names_what_is_missing(oscd_root, tmp_path):
    # test cities looked up in the train labels' folder
    with pytest.raises(FileNotFoundError,
                       match=r'lack .*Train Labels/paris/cm/cm.png'):
        OSCDDataset(data_root=str(oscd_root), ann_file=IMAGES + '/test.txt')
    with pytest.raises(FileNotFoundError, match='imgs_1_rect'):
        OSCDDataset(data_root=str(oscd_root),
                    date_dirs=('imgs_1_rect', 'imgs_2_rect'))
    with pytest.raises(FileNotFoundError, match='split list'):
        OSCDDataset(data_root=str(tmp_path))


def test_loader_resamples_bands_onto_the_10m_grid(oscd_root):
    dataset = OSCDDataset(data_root=str(oscd_root), pipeline=[])
    results = LoadBandFolderPair()(dict(dataset[2]))  # lasvegas, index 2
    img = results['img']
    assert img.shape == (SIZE, SIZE, 26) and img.dtype == np.uint16
    assert results['ori_shape'] == (SIZE, SIZE)
    for date in (1, 2):
        for c, band in enumerate(SENTINEL2_BANDS):
            got = img[..., 13 * (date - 1) + c].astype(np.float64)
            expected = bilinear_ramp(band, date, 2)
            if FACTOR[band] == 1:  # 10 m: as stored
                np.testing.assert_array_equal(got, expected)
            else:
                np.testing.assert_allclose(got, expected, atol=0.5,
                                           err_msg=band)
    # a 20 m ramp interpolated between pixel centres, edges extended
    b05 = img[0, :, 4]
    # (120 per 20 m pixel: 60 per 10 m step, 30 next to the clamped edges)
    assert np.diff(b05.astype(int)).tolist() == [30] + [60] * 21 + [30]


def test_loader_band_order_and_rgb(oscd_root):
    dataset = OSCDDataset(data_root=str(oscd_root), pipeline=[])
    rgb = LoadBandFolderPair(bands=[4, 3, 2])(dict(dataset[0]))['img']
    assert rgb.shape == (SIZE, SIZE, 6)
    for c, band in enumerate(['B04', 'B03', 'B02']):
        np.testing.assert_array_equal(rgb[..., c], band_values(band, 1, 0))
        np.testing.assert_array_equal(rgb[..., 3 + c],
                                      band_values(band, 2, 0))
    official = [4, 3, 2, 8, 5, 6, 7, 9, 12, 13, 1, 10, 11]
    img = LoadBandFolderPair(bands=official)(dict(dataset[0]))['img']
    assert [SENTINEL2_BANDS[b - 1] for b in official][10] == 'B01'
    np.testing.assert_allclose(img[..., 10], bilinear_ramp('B01', 1, 0),
                               atol=0.5)


def test_label_files_in_their_encodings(oscd_root):
    png = OSCDDataset(data_root=str(oscd_root), pipeline=[])[1]
    tif = OSCDDataset(data_root=str(oscd_root), pipeline=[],
                      label_file='cm/{city}-cm.tif', label_encoding='1-2')[1]
    expected = change_map(1).astype(np.uint8)
    for info in (png, tif):
        gt = LoadChangeAnnotation()(dict(info))['gt_seg_map']
        np.testing.assert_array_equal(gt, expected)
    with pytest.raises(ValueError, match="'1-2' expects 1"):
        LoadChangeAnnotation(label_encoding='1-2')(dict(png))
    with pytest.raises(ValueError, match='all its values are < 128'):
        LoadChangeAnnotation(label_encoding='0-255')(dict(tif))
    with pytest.raises(ValueError, match='"changed" value'):
        OSCDDataset(data_root=str(oscd_root), label_encoding='1-2',
                    ignore_value=2)


def test_loader_errors_name_the_file(oscd_root, tmp_path):
    folder = tmp_path / 'imgs_1'
    folder.mkdir()
    write_tif(folder / 'B04.tif', band_values('B04', 1, 0))
    with pytest.raises(FileNotFoundError, match=r'imgs_1 has no file for '
                       r'band\(s\) B02, B03'):
        LoadBandFolderPair(bands=[4, 3, 2]).load_date(str(folder))
    with pytest.raises(ValueError, match='1-based'):
        LoadBandFolderPair(bands=[0, 14])
    with pytest.raises(ValueError, match=r"B04.tif is uint16, the config "
                       r"expects uint8: set dtype='uint16'"):
        LoadBandFolderPair(bands=[4], dtype='uint8').load_date(str(folder))
    # date B one 10 m pixel narrower than date A
    small = tmp_path / 'imgs_2'
    small.mkdir()
    for band in ('B04', 'B03', 'B02'):
        write_tif(small / f'{band}.tif', band_values(band, 2, 0)[:, :-1])
        if band != 'B04':
            write_tif(folder / f'{band}.tif', band_values(band, 1, 0))
    pair = dict(img_path=str(folder), img_path2=str(small))
    with pytest.raises(ValueError, match='same size.*24x24.*24x23'):
        LoadBandFolderPair(bands=[4, 3, 2])(dict(pair))
    img = LoadBandFolderPair(bands=[4, 3, 2],
                             max_size_mismatch=1)(dict(pair))['img']
    assert img.shape == (SIZE, SIZE, 6)
    np.testing.assert_array_equal(img[:, -1, 3], img[:, -2, 3])  # edge


def test_georeferenced_bands_use_their_geometry(tmp_path):
    # a 20 m band starting one 10 m pixel left of and above the 10 m grid
    ref = Affine(10, 0, 500000, 0, -10, 4000000)
    band = band_values('B05', 1, 0)
    shifted = Affine(20, 0, 500000 - 10, 0, -20, 4000000 + 10)
    got = resample_band(band, (SIZE, SIZE), 'bilinear', shifted, ref,
                        'EPSG:32631')
    # 10 m centre x + 0.5 lies at 20 m pixel (x + 1.5) / 2 - 0.5
    pos = np.clip((np.arange(SIZE) + 1.5) / 2 - 0.5, 0, 11)
    np.testing.assert_allclose(got[0], band[0, 0] + 120 * pos, atol=0.5)
    folder = tmp_path / 'imgs_1'
    folder.mkdir()
    write_tif(folder / 'B04.tif', band_values('B04', 1, 0), ref,
              'EPSG:32631')
    write_tif(folder / 'B05.tif', band, shifted, 'EPSG:32631')
    img = LoadBandFolderPair(bands=[4, 5]).load_date(str(folder))
    np.testing.assert_array_equal(img[..., 1], got)


def _tiny_cfg(config, root, work_dir):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'fcsiam', config))
    cfg.work_dir = str(work_dir)
    widths = dict(stage_channels=(4, 4, 8, 8), stage_convs=(2, 2, 2, 2))
    cfg.model.backbone.update(widths)
    cfg.model.decode_head.update(widths, in_channels=(4, 4, 8, 8, 8))
    if 'neck' in cfg.model:
        cfg.model.neck.in_channels = (4, 4, 8, 8, 8)
    cfg.model.test_cfg = dict(mode='slide', crop_size=(16, 16),
                              stride=(8, 8))
    cfg.train_dataloader.dataset.times = 2
    for step in cfg.train_dataloader.dataset.dataset.pipeline:
        if step['type'] == 'RandomCrop':
            step['crop_size'] = (16, 16)
    cfg.train_dataloader.batch_size = 2
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
        dataset = cfg[loader].dataset
        dataset = dataset.get('dataset', dataset)
        dataset.data_root = str(root)
    cfg.train_cfg.max_epochs = 2
    cfg.default_hooks.logger.interval = 1
    return cfg


@pytest.mark.slow
@pytest.mark.parametrize('config', [
    'fc-ef_unet_1xb32-50e_oscd-96x96.py',
    'fc-siam-diff_unet_1xb32-50e_oscdrgb-96x96.py'
])
def test_oscd_config_trains_and_tests_by_sliding_window(
        config, oscd_root, tmp_path):
    from mmengine.runner import Runner
    init_default_scope('mmcd')
    cfg = _tiny_cfg(config, oscd_root, tmp_path / 'work')
    cfg.experiment_name = f'oscd_{config[:-3]}'
    runner = Runner.from_cfg(cfg)
    seen = {}
    forward = runner.model.forward

    def spy(inputs, data_samples=None, mode='tensor'):
        seen.setdefault(mode, []).append(tuple(inputs.shape))
        return forward(inputs, data_samples, mode)

    runner.model.forward = spy
    runner.train()
    channels = 26 if 'oscd-' in config else 6
    assert seen['loss'][0] == (2, channels, 16, 16)  # random 16x16 crops
    assert len(seen['loss']) == 2 * 3  # 2 epochs of 3 cities x 2 / batch 2
    windows = []
    encode_decode = runner.model.encode_decode

    def window_spy(inputs, batch_img_metas):
        windows.append(tuple(inputs.shape))
        return encode_decode(inputs, batch_img_metas)

    runner.model.encode_decode = window_spy
    metrics = runner.test()
    assert {'F1', 'IoU', 'Precision', 'Recall'} <= set(metrics)
    # whole 24x24 test cities, predicted by 2 x 2 windows of 16x16
    assert seen['predict'][-2:] == [(1, channels, SIZE, SIZE)] * 2
    assert windows == [(1, channels, 16, 16)] * 4 * len(TEST)
    assert osp.isfile(osp.join(cfg.work_dir, 'epoch_2.pth'))
