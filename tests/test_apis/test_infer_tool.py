"""Checkpoints of tools/train.py carry what inference needs; tools/infer.py
end to end on the real sample pairs and on a GeoTIFF scene (with the tiny
local model of conftest.py, so that the CLI runs take seconds)."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from api_test_utils import REPO
from cli_helpers import loader_options, run_python
from PIL import Image

from mmcd.apis import ChangeInferencer
from mmcd.datasets.synthetic import write_synthetic_cdd

CONFIG = osp.join(REPO, 'configs', 'lsnet',
                  'lsnet_difffpn_1xb8-10e_synthetic-128x128.py')
INFER = osp.join(REPO, 'tools', 'infer.py')

HERE = osp.dirname(osp.abspath(__file__))


def run(args, cwd, ok=True):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [HERE] + os.environ.get('PYTHONPATH', '').split(os.pathsep)))
    return run_python(args, cwd, env, ok)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """An LSNet checkpoint from tools/train.py (2 iterations on 32x32)."""
    root = tmp_path_factory.mktemp('train')
    data_root = str(root / 'toy')
    write_synthetic_cdd(data_root, num_train=4, num_val=2, num_test=0,
                        size=32, seed=3)
    work_dir = str(root / 'work')
    opts = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=5',
            'default_hooks.checkpoint.interval=1',
            'train_dataloader.batch_size=2']
    opts += loader_options(data_root)
    run([osp.join(REPO, 'tools', 'train.py'), CONFIG, '--work-dir',
         work_dir, '--cfg-options'] + opts, cwd=str(root))
    return root, osp.join(work_dir, 'epoch_1.pth')


@pytest.mark.slow
def test_train_checkpoint_carries_what_inference_needs(trained):
    root, ckpt = trained
    meta = torch.load(ckpt)['meta']
    assert meta['change_threshold'] == 0.5
    assert tuple(meta['dataset_meta']['classes']) == ('unchanged', 'changed')
    assert 'SiameseEncoderDecoder' in meta['cfg']
    # config + weights, or the weights alone (config stored inside)
    for model in (CONFIG, None):
        inf = ChangeInferencer(model, ckpt, device='cpu',
                               show_progress=False)
        assert inf.threshold == 0.5
        assert inf.model.dataset_meta['classes'] == ('unchanged', 'changed')


@pytest.mark.slow
def test_real_pairs_through_the_cli(local_model, tmp_path, real_samples):
    config, ckpt = local_model
    # all 14 real pairs (LEVIR-CD PNG, CDD JPEG, AirChange BMP) in one run
    names = []
    for d in ('A', 'B'):
        (tmp_path / d).mkdir()
    for dataset in ('LEVIR-CD', 'CDD', 'AirChange'):
        for f in sorted(os.listdir(real_samples / dataset / 'A')):
            names.append(osp.splitext(f)[0])
            for d in ('A', 'B'):
                os.symlink(real_samples / dataset / d / f,
                           tmp_path / d / f)
    assert len(names) == 14
    out = tmp_path / 'out'
    run([INFER, config, ckpt, '--folders', str(tmp_path / 'A'),
         str(tmp_path / 'B'), '--out', str(out), '--overlay', '--prob',
         '--batch-size', '7', '--no-progress'], cwd=str(tmp_path))
    for kind in ('mask', 'prob', 'overlay'):
        assert sorted(osp.splitext(f)[0]
                      for f in os.listdir(out / kind)) == sorted(names)
    for name in names:
        mask = np.array(Image.open(out / 'mask' / f'{name}.png'))
        assert mask.shape == (256, 256) and set(np.unique(mask)) <= {0, 255}
        assert np.array(Image.open(
            out / 'overlay' / f'{name}.png')).shape == (256, 256, 3)

    # one pair with its reference: CDD's 0/1 JPEG mask
    cdd = str(real_samples / 'CDD')
    run([INFER, config, ckpt, '--pair', osp.join(cdd, 'A', '00000.jpg'),
         osp.join(cdd, 'B', '00000.jpg'), '--out', str(tmp_path / 'cdd'),
         '--overlay', '--reference', osp.join(cdd, 'label', '00000.jpg'),
         '--label-encoding', '0-1', '--no-progress'], cwd=str(tmp_path))
    assert os.listdir(tmp_path / 'cdd' / 'overlay') == ['00000.png']


@pytest.mark.slow
def test_real_scene_as_geotiff_through_the_cli(local_model, tmp_path,
                                               real_samples):
    rasterio = pytest.importorskip('rasterio')
    from affine import Affine
    config, ckpt = local_model
    levir = str(real_samples / 'LEVIR-CD')
    transform = Affine(0.5, 0, 300000.0, 0, -0.5, 5000000.0)
    scenes = []
    for date in ('A', 'B'):
        img = np.array(Image.open(
            osp.join(levir, date, 'test_2_0000_0000.png')).convert('RGB'))
        path = str(tmp_path / f'{date}.tif')
        with rasterio.open(path, 'w', driver='GTiff', height=256, width=256,
                           count=3, dtype='uint8', crs='EPSG:32650',
                           transform=transform, compress='deflate') as ds:
            ds.write(np.moveaxis(img, -1, 0))
        scenes.append(path)
    out = tmp_path / 'change.tif'
    text = run([INFER, config, ckpt, '--scene', *scenes, '--out', str(out),
                '--tile', '128', '--overlap', '32', '--stripe-width', '128',
                '--prob', '--vector',
                str(tmp_path / 'change.geojson'), '--no-progress'],
               cwd=str(tmp_path))
    assert '256x256 scene, 9 tiles' in text
    with rasterio.open(out) as ds:
        assert ds.crs.to_epsg() == 32650 and ds.transform == transform
        assert ds.compression.value == 'DEFLATE'
        assert set(np.unique(ds.read(1))) <= {0, 255}
    assert (tmp_path / 'change_prob.tif').exists()
    assert json.loads((tmp_path / 'change.geojson').read_text())[
        'type'] == 'FeatureCollection'


@pytest.mark.slow
def test_scene_cli_limits_heap_growth(local_model, tmp_path, monkeypatch):
    """tools/infer.py --scene, a whole program, sets glibc's allocator
    (the library leaves it alone, see test_scene_predictor.py)."""
    import importlib.util

    from api_test_utils import make_pair, write_png
    spec = importlib.util.spec_from_file_location('infer_tool', INFER)
    infer_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(infer_tool)
    calls = []
    monkeypatch.setattr(infer_tool, 'limit_heap_growth',
                        lambda: calls.append('scene') or True)
    config, ckpt = local_model
    a, b = make_pair(3, 48, 56)
    pa, pb = write_png(tmp_path / 'a.png', a), write_png(tmp_path / 'b.png',
                                                         b)
    infer_tool.main([config, ckpt, '--pair', pa, pb, '--out',
                     str(tmp_path / 'pairs'), '--no-progress', '--no-fast'])
    assert calls == []
    infer_tool.main([config, ckpt, '--scene', pa, pb, '--out',
                     str(tmp_path / 'c.png'), '--tile', '32', '--overlap',
                     '8', '--no-progress', '--no-fast'])
    assert calls == ['scene']
    assert (tmp_path / 'c.png').exists()


def test_folders_of_mixed_sizes_are_batched_by_size(local_model, tmp_path):
    """tools/infer.py --folders with pairs of two sizes and --batch-size 4:
    each batch holds one size; the masks equal those of --batch-size 1."""
    import importlib.util

    from api_test_utils import make_pair, write_png
    spec = importlib.util.spec_from_file_location('infer_tool', INFER)
    infer_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(infer_tool)
    config, ckpt = local_model
    sizes = [(40, 52), (24, 32), (40, 52), (24, 32), (24, 32), (40, 52)]
    (tmp_path / 'A').mkdir()
    (tmp_path / 'B').mkdir()
    for i, (h, w) in enumerate(sizes):
        a, b = make_pair(i, h, w)
        write_png(tmp_path / 'A' / f'p{i}.png', a)
        write_png(tmp_path / 'B' / f'p{i}.png', b)
    folders = [str(tmp_path / 'A'), str(tmp_path / 'B')]
    for batch_size in ('4', '1'):
        infer_tool.main([config, ckpt, '--folders', *folders, '--out',
                         str(tmp_path / f'out{batch_size}'), '--batch-size',
                         batch_size, '--no-progress', '--no-fast'])
    for i, (h, w) in enumerate(sizes):
        batched = np.array(Image.open(tmp_path / 'out4/mask' / f'p{i}.png'))
        single = np.array(Image.open(tmp_path / 'out1/mask' / f'p{i}.png'))
        assert batched.shape == (h, w)
        np.testing.assert_array_equal(batched, single)
    # the API keeps the input order in what it returns
    inferencer = ChangeInferencer(config, ckpt, device='cpu',
                                  show_progress=False, fast=False)
    res = inferencer(tuple(folders), batch_size=4)
    assert res['names'] == [f'p{i}' for i in range(6)]
    assert [p.shape for p in res['predictions']] == sizes
    probs = inferencer.predict_probabilities(
        [(str(tmp_path / 'A' / f'p{i}.png'), str(tmp_path / 'B' / f'p{i}.png'))
         for i in range(6)], batch_size=4)
    assert [p.shape for p in probs] == sizes


def test_every_label_encoding_is_offered_for_references():
    """--label-encoding offers each encoding the mask loader knows (OSCD's
    '1-2' included), and nothing else."""
    import importlib.util

    from mmcd.datasets.transforms import LABEL_ENCODINGS
    spec = importlib.util.spec_from_file_location(
        'mmcd_test_infer_cli', osp.join(REPO, 'tools', 'infer.py'))
    infer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(infer)
    base = ['cfg.py', 'ckpt.pth', '--pair', 'a.png', 'b.png', '--out', 'o']
    for encoding in LABEL_ENCODINGS:
        args = infer.parse_args(base + ['--label-encoding', encoding])
        assert args.label_encoding == encoding
    with pytest.raises(SystemExit):
        infer.parse_args(base + ['--label-encoding', '0-2'])
