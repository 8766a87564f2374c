"""tools/dist_infer.py (whole scenes per process) and tools/dist_infer.sh
(torchrun, 2 CPU processes over gloo) give the single process's outputs."""
import importlib.util
import os
import os.path as osp
import re
import subprocess

import numpy as np
import pytest
from api_test_utils import REPO, make_pair
from cli_helpers import run_python

rasterio = pytest.importorskip('rasterio')

HERE = osp.dirname(osp.abspath(__file__))
DIST_INFER = osp.join(REPO, 'tools', 'dist_infer.py')
OPTIONS = ['--tile', '32', '--overlap', '8', '--batch-size', '2',
           '--no-fast', '--prob']


def tool_env(**extra):
    return dict(os.environ, PYTHONPATH=os.pathsep.join(
        [HERE] + os.environ.get('PYTHONPATH', '').split(os.pathsep)),
        **extra)


def write_scene(path, img, x0):
    from affine import Affine
    with rasterio.open(path, 'w', driver='GTiff', height=img.shape[0],
                       width=img.shape[1], count=3, dtype='uint8',
                       crs='EPSG:32650', tiled=True, blockxsize=16,
                       blockysize=16,  # outputs in 16-pixel blocks too
                       transform=Affine(0.5, 0, x0, 0, -0.5, 5e6)) as ds:
        ds.write(np.moveaxis(img, -1, 0))


@pytest.fixture(scope='module')
def scene_list(tmp_path_factory):
    """Three scene pairs of different sizes; the third is given a NAME."""
    root = tmp_path_factory.mktemp('scenes')
    lines = []
    for i, (h, w) in enumerate([(40, 56), (48, 48), (36, 64)]):
        img_a, img_b = make_pair(i, h, w)
        for date, img in (('a', img_a), ('b', img_b)):
            write_scene(root / f'{date}{i}.tif', img, 3e5 + 100 * i)
        lines.append(f'a{i}.tif b{i}.tif' + (' third' if i == 2 else ''))
    (root / 'scenes.txt').write_text('# date A, date B, name\n\n' +
                                     '\n'.join(lines) + '\n')
    return root / 'scenes.txt'


def read_outputs(folder, suffix=''):
    out = {}
    for name in sorted(os.listdir(folder)):
        if not name.endswith(suffix):
            continue
        with rasterio.open(osp.join(folder, name)) as ds:
            out[name] = (ds.read(), ds.transform, ds.crs, ds.read_masks())
    return out


@pytest.mark.slow
def test_two_processes_write_what_one_process_writes(local_model,
                                                     scene_list, tmp_path):
    config, ckpt = local_model
    single, dist = tmp_path / 'single', tmp_path / 'dist'
    text = run_python([DIST_INFER, config, ckpt, '--scenes', scene_list,
                       '--out', single] + OPTIONS, cwd=str(tmp_path),
                      env=tool_env())
    assert '3 scene pair(s) on 1 process(es)' in text
    single_text = text
    result = subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'dist_infer.sh'), config, ckpt, '2',
         '--scenes', str(scene_list), '--out', str(dist)] + OPTIONS,
        cwd=str(tmp_path), env=tool_env(PORT='29741', OMP_NUM_THREADS='1'),
        capture_output=True, text=True, timeout=900)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-5000:]
    assert '3 scene pair(s) on 2 process(es)' in text
    # round robin: pairs 0 and 2 on rank 0, pair 1 on rank 1
    assert 'a0: 56x40' in text and 'third: 64x36' in text
    assert 'rank 1' in text.split('a1: 48x48')[1].splitlines()[0]
    expected = ['a0.tif', 'a0_prob.tif', 'a1.tif', 'a1_prob.tif',
                'third.tif', 'third_prob.tif']
    assert sorted(os.listdir(single)) == expected
    one, two = read_outputs(single), read_outputs(dist)
    assert one.keys() == two.keys()
    for name in expected:
        mask, transform, crs, valid = one[name]
        assert np.array_equal(mask, two[name][0]), name
        assert (transform, crs) == two[name][1:3], name
        assert np.array_equal(valid, two[name][3]), name
    assert 0 < (one['a0.tif'][0] == 255).sum() < one['a0.tif'][0].size

    # --split-scenes: every scene in column stripes on both ranks, merged
    split = tmp_path / 'split'
    result = subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'dist_infer.sh'), config, ckpt, '2',
         '--scenes', str(scene_list), '--out', str(split), '--split-scenes',
         '--vector'] + OPTIONS,
        cwd=str(tmp_path), env=tool_env(PORT='29743', OMP_NUM_THREADS='1'),
        capture_output=True, text=True, timeout=900)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-5000:]
    assert 'a1: 48x48' in text and 'rank 0-1' in text
    # 16-pixel blocks: stripes of 32 columns (a0, a1) or 48 (third), the
    # tiles across the stripe border running on both ranks

    def tiles(log):
        return {name: int(n) for name, n in
                re.findall(r'^(\w+): \d+x\d+, (\d+) tiles', log, re.M)}

    one_tiles, split_tiles = tiles(single_text), tiles(text)
    assert one_tiles.keys() == split_tiles.keys() == {'a0', 'a1', 'third'}
    assert all(split_tiles[k] > one_tiles[k] for k in one_tiles), (
        one_tiles, split_tiles)
    geojson = ['a0.geojson', 'a1.geojson', 'third.geojson']
    assert sorted(os.listdir(split)) == sorted(expected + geojson)  # no parts
    three = read_outputs(split, '.tif')
    for name in expected:
        for x, y in zip(one[name], three[name]):
            assert np.array_equal(x, y) if isinstance(x, np.ndarray) \
                else x == y, name


@pytest.mark.slow
def test_existing_outputs_are_refused_before_any_prediction(
        local_model, scene_list, tmp_path):
    config, ckpt = local_model
    out = tmp_path / 'out'
    out.mkdir()
    kept = out / 'a1.tif'
    kept.write_bytes(b'mine')
    text = run_python([DIST_INFER, config, ckpt, '--scenes', scene_list,
                       '--out', out] + OPTIONS, cwd=str(tmp_path),
                      env=tool_env(), ok=False)
    assert 'already exist' in text and str(kept) in text
    assert kept.read_bytes() == b'mine'
    assert os.listdir(out) == ['a1.tif']  # nothing predicted


def load_dist_infer():
    spec = importlib.util.spec_from_file_location('dist_infer', DIST_INFER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scene_list_paths_names_and_errors(scene_list, tmp_path):
    read_scene_list = load_dist_infer().read_scene_list
    root = scene_list.parent
    assert read_scene_list(str(scene_list)) == [
        (str(root / 'a0.tif'), str(root / 'b0.tif'), 'a0'),
        (str(root / 'a1.tif'), str(root / 'b1.tif'), 'a1'),
        (str(root / 'a2.tif'), str(root / 'b2.tif'), 'third')]
    bad = tmp_path / 'bad.txt'
    for content, error, message in (
            (f'{root}/a0.tif\n', ValueError, 'line 1: expected "A B [NAME]"'),
            (f'{root}/a0.tif {root}/b0.tif x\n{root}/a1.tif {root}/b1.tif x',
             ValueError, "lines 1 and 2 both write 'x'"),
            (f'{root}/a0.tif nope.tif\n', FileNotFoundError,
             f'line 1: scene not found: {tmp_path}/nope.tif'),
            ('# nothing\n', ValueError, 'no scene pairs')):
        bad.write_text(content)
        with pytest.raises(error) as info:
            read_scene_list(str(bad))
        assert message in str(info.value) and str(bad) in str(info.value)


def test_scene_options_reach_the_predictor(local_model, scene_list, tmp_path,
                                           monkeypatch):
    """--bands, per-band --nodata and --align are handed to
    SceneChangePredictor as tools/infer.py --scene hands them."""
    config, ckpt = local_model
    tool = load_dist_infer()
    seen = {}

    class Recorder:
        def __init__(self, inferencer, **kwargs):
            seen.update(kwargs)

        def __call__(self, *args, **kwargs):
            raise SystemExit(0)  # options checked; no prediction needed

    monkeypatch.setattr(tool, 'SceneChangePredictor', Recorder)
    with pytest.raises(SystemExit):
        tool.main([config, ckpt, '--scenes', str(scene_list), '--out',
                   str(tmp_path / 'out'), '--no-fast', '--bands', '3', '2',
                   '1', '--nodata', '0', '0', '255', '--align',
                   '--align-resampling', 'nearest'])
    assert seen['bands'] == [3, 2, 1] and seen['nodata'] == [0, 0, 255]
    assert seen['align'] is True and seen['resampling'] == 'nearest'
