"""model-index.yml / metafiles and `mim train|test|search mmcd`."""
import glob
import json
import os
import os.path as osp
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.fileio import load
from mmengine.registry import init_default_scope

import mmcd
from cli_helpers import loader_options, run_python
from mmcd.datasets.synthetic import write_synthetic_cdd
from mmcd.models.utils import count_parameters
from mmcd.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
PACKAGE = Path(mmcd.__file__).resolve().parent
# LSNet authors' weights/readme.txt (CDD test set), as fractions
PUBLISHED = {
    'lsnet_difffpn_1xb12-100e_cdd-256x256':
    dict(Precision=0.9430624, Recall=0.9394910, F1=0.9412734, OA=0.9855206,
         params=1207706, macs=5.215173504e9),
    'lsnet_thindifffpn_1xb12-100e_cdd-256x256':
    dict(Precision=0.9452604, Recall=0.9325909, F1=0.9388829, OA=0.9850038,
         params=1167922, macs=4.778421408e9),
    'lsnet_densefpn_1xb12-100e_cdd-256x256':
    dict(Precision=0.9458371, Recall=0.9348602, F1=0.9403166, OA=0.9853423,
         params=1096694, macs=5.86519696e9),
}


def metafile_models():
    index = load(str(REPO / 'model-index.yml'))
    models = []
    for metafile in index['Import']:
        assert (REPO / metafile).is_file(), metafile
        # mmengine and mim read them through <package>/.mim
        assert (PACKAGE / '.mim' / metafile).is_file(), metafile
        meta = load(str(REPO / metafile))
        collections = {c['Name'] for c in meta['Collections']}
        for model in meta['Models']:
            assert model['In Collection'] in collections
            models.append(model)
    return models


def test_metafiles_parse_and_point_to_configs():
    modelindex = pytest.importorskip('modelindex')
    index = modelindex.load(str(REPO / 'model-index.yml'))
    assert not index.check(silent=True)
    models = metafile_models()
    names = [m['Name'] for m in models]
    assert len(names) == len(set(names))
    assert set(PUBLISHED) <= set(names)
    for model in models:
        config = model['Config']
        assert config.startswith('configs/') and config.endswith('.py')
        assert osp.splitext(osp.basename(config))[0] == model['Name']
        assert (REPO / config).is_file() and (PACKAGE / '.mim' /
                                              config).is_file()
        assert model['Metadata']['Parameters'] > 0
        # `_base_ = 'mmcd::<dir>/<name>.py'` resolves to the repo's file
        cfg_path, scope = Config._get_cfg_path(
            'mmcd::' + config[len('configs/'):], str(REPO / 'x.py'))
        assert scope == 'mmcd'
        assert osp.samefile(cfg_path, REPO / config)
        for result in model.get('Results', []):
            assert result['Task'] == 'Change Detection'
            assert result['Dataset'] and result['Metrics']
    for model in models:
        if model['Name'] not in PUBLISHED:
            continue
        published = PUBLISHED[model['Name']]
        (result, ) = model['Results']
        assert result['Dataset'] == 'CDD'
        for key in ('Precision', 'Recall', 'F1', 'OA'):
            assert result['Metrics'][key] == round(100 * published[key], 2)
        assert model['Metadata']['FLOPs'] == round(published['macs'])
        assert model['Paper']['URL'] == 'https://arxiv.org/abs/2201.09156'


def test_metafile_parameter_counts_are_the_models():
    """Both counts of the metafile are those of mmcd's inference models
    (thop convention without PReLU slopes = the published count)."""
    init_default_scope('mmcd')
    for model in metafile_models():
        if model['Name'] not in PUBLISHED:
            continue
        cfg = Config.fromfile(str(REPO / model['Config']))
        net = MODELS.build(cfg.model)
        assert not hasattr(net, 'auxiliary_head')
        assert count_parameters(net) == PUBLISHED[model['Name']]['params']
        assert count_parameters(net) == \
            model['Metadata']['Parameters (thop, published)']
        assert count_parameters(net, exclude=()) == \
            model['Metadata']['Parameters']


def tiny_options(data_root):
    opts = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
            'train_dataloader.batch_size=2']
    opts += loader_options(data_root)
    return opts


@pytest.mark.slow
def test_mim_train_test_search_with_a_regular_install(tmp_path):
    """`mim` finds a package through its distribution's location, so it
    sees a regular install (here `pip install --target`); a PEP 660
    editable install has no files there (see the README)."""
    pytest.importorskip('mim')
    target = tmp_path / 'site'
    run_python(['-m', 'pip', 'install', '--no-deps', '--no-build-isolation',
                '--quiet', '--target', str(target), str(REPO)],
               cwd=str(tmp_path), env=None)
    tools = target / 'mmcd' / '.mim' / 'tools'
    assert (tools / 'train.py').is_file() and not tools.is_symlink()
    assert (target / 'mmcd' / '.mim' / 'model-index.yml').is_file()

    data_root = tmp_path / 'toy'
    write_synthetic_cdd(str(data_root), num_train=2, num_val=1, num_test=1,
                        size=32, seed=4)
    env = dict(os.environ, PYTHONPATH=str(target), OMP_NUM_THREADS='1')
    config = 'lsnet_difffpn_1xb8-10e_synthetic-128x128.py'  # found by name
    out = run_python(['-m', 'mim', 'train', 'mmcd', config,
                      '--work-dir', 'work', '--cfg-options'] +
                     tiny_options(data_root), cwd=str(tmp_path), env=env)
    assert f'{tools / "train.py"} ' in out
    assert 'Training finished successfully' in out
    ckpt = tmp_path / 'work' / 'epoch_1.pth'
    assert ckpt.is_file()

    out = run_python(['-m', 'mim', 'test', 'mmcd', config,
                      '--checkpoint', str(ckpt), '--work-dir', 'test_work',
                      '--cfg-options'] + tiny_options(data_root),
                     cwd=str(tmp_path), env=env)
    assert f'{tools / "test.py"} ' in out
    metrics = glob.glob(str(tmp_path / 'test_work' / '*' / '*.json'))
    assert metrics
    with open(metrics[0]) as f:
        assert {'Precision', 'Recall', 'F1', 'OA'} <= set(json.load(f))

    out = run_python(['-m', 'mim', 'search', 'mmcd'],
                     cwd=str(tmp_path), env=env)
    for model in metafile_models():
        assert f'config id: {model["Name"]}' in out


@pytest.mark.slow
def test_every_metafile_parameter_count_is_the_inference_model():
    """`Parameters` of every metafile entry (LSNet, DASNet, BiSeNetV2-CD) is
    the full count of the inference model (auxiliary heads excluded)."""
    init_default_scope('mmcd')
    families = set()
    for model in metafile_models():
        cfg = Config.fromfile(str(REPO / model['Config']))
        cfg.model.auxiliary_head = None
        net = MODELS.build(cfg.model)
        assert count_parameters(net, exclude=()) == \
            model['Metadata']['Parameters'], model['Name']
        families.add(model['In Collection'])
    assert {'LSNet', 'DASNet', 'DASNet-V2', 'BiSeNetV2-CD'} <= families
