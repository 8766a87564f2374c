"""Registry tree, config layout and `mmcd::` inheritance."""
import ast
import glob
import logging
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import Registry, init_default_scope

import mmcd  # noqa: F401  (registers mmcd's modules)
from mmcd.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
FULL_CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', '*', '*.py')))
FULL_CONFIGS = [c for c in FULL_CONFIGS if '_base_' not in c]


def run_python(code, cwd, env=None):
    result = subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                            cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


@pytest.mark.slow
def test_mmseg_scoped_config_uses_mmcd_types_via_custom_imports(tmp_path):
    cfg = tmp_path / 'mmseg_cfg.py'
    cfg.write_text(textwrap.dedent("""
        default_scope = 'mmseg'
        custom_imports = dict(imports=['mmcd'], allow_failed_imports=False)
        backbone = dict(type='mmcd.LightSiamese')
        model = dict(
            _scope_='mmcd',
            type='SiameseEncoderDecoder',
            data_preprocessor=dict(type='SegDataPreProcessor'),
            backbone=dict(type='LightSiamese'),
            neck=dict(type='DiffFPN'),
            decode_head=dict(type='CAMHead', in_channels=[32, 32, 64],
                             in_index=[0, 1, 2], channels=128,
                             num_classes=2))
    """))
    # a fresh process that has never imported mmcd or mmseg before
    out = run_python(f"""
        from mmengine.config import Config
        from mmengine.registry import Registry, init_default_scope
        cfg = Config.fromfile({str(cfg)!r})
        init_default_scope(cfg.default_scope)
        from mmseg.registry import MODELS
        backbone = MODELS.build(cfg.backbone)
        print('BUILT', type(backbone).__module__)
        model = MODELS.build(cfg.model)
        print('MODEL', type(model).__name__, type(model.neck).__name__)
        # mmcd's types live in mmcd's registry, not in mmseg's
        print('PLAIN', MODELS.get('LightSiamese'))
    """, cwd=str(tmp_path))
    assert 'BUILT mmcd.models.backbones.light_siamese' in out
    assert 'MODEL SiameseEncoderDecoder DiffFPN' in out
    assert 'PLAIN None' in out


def test_mmcd_registries_are_mmseg_children_with_locations():
    from mmseg import registry as mmseg_registry

    import mmcd.registry as mmcd_registry
    for name, reg in vars(mmcd_registry).items():
        if not isinstance(reg, Registry) or name.startswith('MMSEG_'):
            continue
        assert reg.scope == 'mmcd', name
        assert reg.parent is getattr(mmseg_registry, name), name
        assert mmseg_registry.__dict__[name].children['mmcd'] is reg
    # mmcd scope: mmcd's own first, then mmseg's, found without warnings
    assert MODELS.get('LightSiamese').__module__.startswith('mmcd.')
    assert MODELS.get('ResNetV1c').__module__.startswith('mmseg.')
    assert 'LightSiamese' in MODELS.module_dict


def test_building_blocks_are_not_registered():
    for name in ('ChannelAttention', 'CoordinateAttention',
                 'ContextGuidedBlock', 'EnsembleChannelAttention',
                 'GlobalContextExtractor'):
        assert MODELS.get(name) is None, name


def test_levir_cd_dataset_name_and_alias():
    from mmseg.datasets import LEVIRCDDataset as MMSegLEVIRCD

    from mmcd.datasets import LEVIRCD, LEVIRCDDataset
    from mmcd.registry import DATASETS
    assert LEVIRCD is LEVIRCDDataset
    assert DATASETS.get('LEVIRCDDataset') is LEVIRCDDataset
    assert DATASETS.get('LEVIRCD') is LEVIRCDDataset
    # mmseg's own class keeps its name in mmseg's scope
    assert DATASETS.parent.get('LEVIRCDDataset') is MMSegLEVIRCD


@pytest.mark.parametrize('config', FULL_CONFIGS,
                         ids=[osp.basename(c) for c in FULL_CONFIGS])
def test_full_configs_build_without_registry_warnings(config, caplog):
    cfg = Config.fromfile(config)
    assert cfg.default_scope == 'mmcd'
    init_default_scope('mmcd')
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        model = MODELS.build(cfg.model)
    finally:
        logger.removeHandler(handler)
    warnings = [r.getMessage() for r in records
                if r.levelno >= logging.WARNING]
    assert not warnings, warnings
    # Siamese, or mmseg's EncoderDecoder for early fusion (FC-EF)
    assert type(model).__name__ in ('SiameseEncoderDecoder',
                                    'EncoderDecoder')


def test_config_names_and_inheritance_depth():
    for config in FULL_CONFIGS:
        name = osp.basename(config)
        # {algorithm}_{components}_{NxbM}-{schedule}_{dataset}-{crop}.py
        parts = name[:-3].split('_')
        assert len(parts) == 4, name
        assert 'xb' in parts[2] and '-' in parts[2], name
        assert parts[3].count('-') == 1 and 'x' in parts[3], name

    def depth(path):
        # the `_base_` assignment, read without running the config
        bases = []
        for node in ast.parse(open(path).read(), path).body:
            if isinstance(node, ast.Assign) and any(
                    getattr(t, 'id', None) == '_base_' for t in node.targets):
                bases = ast.literal_eval(node.value)
        bases = [bases] if isinstance(bases, str) else bases
        return 1 + max([depth(osp.normpath(osp.join(osp.dirname(path), b)))
                        for b in bases] or [0])

    for config in FULL_CONFIGS + [osp.join(REPO, 'configs', 'lsnet_cdd.py')]:
        assert depth(config) - 1 <= 3, config


def _downstream_config(tmp_path):
    cfg = tmp_path / 'downstream' / 'my_lsnet.py'
    cfg.parent.mkdir()
    cfg.write_text(textwrap.dedent("""
        _base_ = 'mmcd::lsnet/lsnet_difffpn_1xb12-100e_cdd-256x256.py'
        train_dataloader = dict(batch_size=4)
    """))
    return cfg


CHECK_DOWNSTREAM = """
    import mmcd
    from mmengine.config import Config
    cfg = Config.fromfile('my_lsnet.py')
    assert cfg.train_dataloader.batch_size == 4
    assert cfg.model.backbone.type == 'LightSiamese'
    assert cfg.model.neck.type == 'DiffFPN'
    print('MMCD_FILE', mmcd.__file__)
"""


@pytest.mark.slow
def test_mmcd_inheritance_from_outside_the_repo(tmp_path):
    cfg = _downstream_config(tmp_path)
    out = run_python(CHECK_DOWNSTREAM, cwd=str(cfg.parent))
    assert 'MMCD_FILE' in out


@pytest.mark.slow
def test_mmcd_inheritance_with_a_regular_install(tmp_path):
    """`pip install .` (not editable) ships the configs in mmcd/.mim."""
    target = tmp_path / 'site'
    result = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--no-deps',
         '--no-build-isolation', '--quiet', '--target', str(target), REPO],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (target / 'mmcd' / '.mim' / 'configs' / 'lsnet').is_dir()
    assert not (target / 'mmcd' / '.mim' / 'configs').is_symlink()
    cfg = _downstream_config(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(target))
    out = run_python(CHECK_DOWNSTREAM, cwd=str(cfg.parent), env=env)
    assert f'MMCD_FILE {target}' in out
