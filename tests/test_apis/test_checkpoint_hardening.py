"""Hostile and wrong checkpoints: no code runs from one, bad files are named,
weights of another model are refused, a stored threshold is checked, and an
interrupted scene run leaves no output that looks complete."""
import importlib.util
import os
import os.path as osp
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn
from api_test_utils import REPO, make_pair, write_png
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint

from mmcd.apis import ChangeInferencer, SceneChangePredictor
from mmcd.engine.hooks import WeightsMatchHook
from mmcd.models.segmentors import FastChangeSegmentor
from mmcd.registry import MODELS
from mmcd.utils.checkpoint_safety import (CheckpointRefusedError,
                                          UnsafeConfigError)

CONFIGS = osp.join(REPO, 'configs')
LSNET_DIFF = osp.join(CONFIGS, 'lsnet',
                      'lsnet_difffpn_1xb12-100e_cdd-256x256.py')
LSNET_DENSE = osp.join(CONFIGS, 'lsnet',
                       'lsnet_densefpn_1xb12-100e_cdd-256x256.py')
BISENET = osp.join(CONFIGS, 'bisenetv2_cd',
                   'bisenetv2cd_bga-booster_1xb16-40k_cdd-256x256.py')


def save_model_checkpoint(config, path):
    """A checkpoint of the model of ``config`` (random weights), as
    tools/train.py writes it."""
    cfg = Config.fromfile(config)
    init_default_scope('mmcd')
    model = MODELS.build(cfg.model)
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(cfg=cfg.pretty_text, change_threshold=0.5)),
               path)
    return str(path)


@pytest.fixture(scope='module')
def other_models(tmp_path_factory):
    root = tmp_path_factory.mktemp('other_models')
    return dict(dense=save_model_checkpoint(LSNET_DENSE, root / 'dense.pth'),
                bisenet=save_model_checkpoint(BISENET, root / 'bisenet.pth'))


def with_meta(ckpt, path, **changes):
    """A copy of checkpoint ``ckpt`` with ``meta`` (and more) changed."""
    state = torch.load(ckpt)
    for key, value in changes.items():
        if key == 'message_hub':
            state[key] = value
        else:
            state['meta'][key] = value
    torch.save(state, path)
    return str(path)


# -- 1. a checkpoint never runs code ------------------------------------------
def test_config_text_in_a_checkpoint_never_runs(local_model, tmp_path):
    cfg_path, ckpt = local_model
    marker = tmp_path / 'PWNED'
    text = torch.load(ckpt)['meta']['cfg'] + (
        f"\n_x = __import__('os').system('touch {marker}')\n")
    hub = dict(runtime_info=dict(cfg=text))
    for name in ('meta_and_hub', 'hub_only'):
        evil = with_meta(ckpt, tmp_path / f'{name}.pth', cfg=text,
                         message_hub=hub)
        if name == 'hub_only':  # mmengine's first choice
            state = torch.load(evil)
            del state['meta']['cfg']
            torch.save(state, evil)
        with pytest.raises(UnsafeConfigError) as e:
            ChangeInferencer(None, evil, device='cpu', show_progress=False)
        message = str(e.value)
        assert evil in message and 'not plain data' in message
        assert 'config file' in message and 'trust_checkpoint_config' in \
            message
        assert not marker.exists()
        # with the config file, the stored text is never read
        ChangeInferencer(cfg_path, evil, device='cpu', show_progress=False,
                         fast=False)
        assert not marker.exists()
    # the payload is live: the explicit opt-in for trusted files runs it
    ChangeInferencer(None, evil, device='cpu', show_progress=False,
                     fast=False, trust_checkpoint_config=True)
    assert marker.exists()


def test_plain_stored_config_is_read_as_data(local_model, tmp_path):
    cfg_path, ckpt = local_model
    inf = ChangeInferencer(None, ckpt, device='cpu', show_progress=False,
                           fast=False)
    assert inf.cfg.model.to_dict() == Config.fromfile(cfg_path).model.to_dict()
    # no config stored: ask for the file
    state = torch.load(ckpt)
    del state['meta']['cfg']
    torch.save(state, tmp_path / 'no_cfg.pth')
    with pytest.raises(ValueError, match='no config.*config file'):
        ChangeInferencer(None, str(tmp_path / 'no_cfg.pth'), device='cpu')
    # custom_imports of modules not imported are not imported from it
    stored = torch.load(ckpt)['meta']['cfg']
    text = stored.replace("'local_conv_backbone'", "'antigravity'")
    assert text != stored
    bad = with_meta(ckpt, tmp_path / 'imports.pth', cfg=text)
    with pytest.raises(UnsafeConfigError, match="antigravity.*import"):
        ChangeInferencer(None, bad, device='cpu')


# -- 2. bad checkpoint files are named ----------------------------------------
def test_bad_checkpoint_files_are_named(local_model, tmp_path):
    cfg_path, ckpt = local_model
    data = open(ckpt, 'rb').read()
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(data[:len(data) // 2])
    text = tmp_path / 'notes.pth'
    text.write_text('not a checkpoint\n')
    image = tmp_path / 'image.pth'
    os.rename(write_png(tmp_path / 'image.png', np.zeros((4, 4), np.uint8)),
              image)
    module = tmp_path / 'module.pth'
    torch.save(nn.Linear(2, 2), module)
    cases = [(truncated, ValueError, 'truncated or corrupt'),
             (text, ValueError, 'not a PyTorch checkpoint'),
             (image, ValueError, 'not a PyTorch checkpoint'),
             (module, CheckpointRefusedError, 'torch.nn.modules.linear')]
    for path, error, what in cases:
        for load in (lambda p: ChangeInferencer(cfg_path, p, device='cpu'),
                     lambda p: _load_checkpoint(p, map_location='cpu')):
            with pytest.raises(error) as e:
                load(str(path))
            message = str(e.value)
            assert str(path) in message and what in message
            # never advice to switch the safety off
            assert 'weights_only' not in message
            assert e.value.__cause__ is None
    assert issubclass(CheckpointRefusedError, pickle.UnpicklingError)


# -- 3. weights of another model are refused ----------------------------------
def test_weights_of_another_model_are_refused(other_models):
    cases = [(LSNET_DIFF, other_models['dense'], 'of another shape'),
             (LSNET_DIFF, other_models['bisenet'], 'missing from the')]
    for config, ckpt, what in cases:
        with pytest.raises(ValueError) as e:
            ChangeInferencer(config, ckpt, device='cpu', fast=False)
        message = str(e.value)
        assert config in message and ckpt in message and what in message
        assert '--allow-partial-weights' in message
    # explicit partial loading
    inf = ChangeInferencer(LSNET_DIFF, other_models['dense'], device='cpu',
                           fast=False, allow_partial_weights=True)
    assert type(inf.model).__name__ == 'SiameseEncoderDecoder'


def test_auxiliary_heads_may_be_left_out(other_models):
    """BiSeNetV2-CD's booster heads are used in training only: testing with
    model.auxiliary_head=None (its README) loads the rest strictly."""
    cfg = Config.fromfile(BISENET)
    cfg.model.auxiliary_head = None
    inf = ChangeInferencer(cfg, other_models['bisenet'], device='cpu',
                           fast=False)
    state = torch.load(other_models['bisenet'])['state_dict']
    for key, value in inf.model.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert any(k.startswith('auxiliary_head.') for k in state)
    # but a missing decode head is not an auxiliary head
    cfg.model.decode_head.channels = 8
    with pytest.raises(ValueError, match='decode_head'):
        ChangeInferencer(cfg, other_models['bisenet'], device='cpu',
                         fast=False)


def test_weights_match_hook_checks_the_wrapped_model(other_models):
    """tools/test.py: the Runner loads into FastChangeSegmentor.module."""
    init_default_scope('mmcd')
    model = FastChangeSegmentor(MODELS.build(Config.fromfile(
        LSNET_DIFF).model))
    runner = SimpleNamespace(model=model, cfg=Config.fromfile(LSNET_DIFF))
    runner.cfg.load_from = other_models['dense']
    hook = WeightsMatchHook()
    with pytest.raises(ValueError, match='of another shape') as e:
        hook.after_load_checkpoint(runner, torch.load(other_models['dense']))
    assert other_models['dense'] in str(e.value)
    own = {'module.' + k: v for k, v in model.module.state_dict().items()}
    hook.after_load_checkpoint(runner, dict(state_dict=own))  # fits
    WeightsMatchHook(allow_partial=True).after_load_checkpoint(
        runner, torch.load(other_models['dense']))


# -- 4. the stored threshold is checked ---------------------------------------
@pytest.mark.parametrize('stored', [1.0, 0.0, 1.5, -0.2, 'high', True])
def test_stored_threshold_outside_its_range_is_refused(local_model, tmp_path,
                                                       stored):
    cfg_path, ckpt = local_model
    bad = with_meta(ckpt, tmp_path / 'bad_threshold.pth',
                    change_threshold=stored)
    with pytest.raises(ValueError) as e:
        ChangeInferencer(cfg_path, bad, device='cpu', fast=False)
    message = str(e.value)
    assert "meta['change_threshold']" in message and bad in message
    assert '(0, 1)' in message and '--threshold' in message
    # an explicit threshold replaces it
    inf = ChangeInferencer(cfg_path, bad, device='cpu', fast=False,
                           threshold=0.4)
    assert inf.threshold == 0.4
    with pytest.raises(ValueError, match='--threshold'):
        ChangeInferencer(cfg_path, ckpt, device='cpu', threshold=1.0)


# -- 7a. tools/infer.py applies --cfg-options to a config given by name -------
def test_infer_tool_applies_cfg_options_to_a_config_name(tmp_path,
                                                         monkeypatch):
    spec = importlib.util.spec_from_file_location(
        'infer_tool', osp.join(REPO, 'tools', 'infer.py'))
    infer_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(infer_tool)
    seen = []

    class Stop(Exception):
        pass

    def fake_inferencer(model, *args, **kwargs):
        seen.append(model)
        raise Stop

    monkeypatch.setattr(infer_tool, 'ChangeInferencer', fake_inferencer)
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'')
    with pytest.raises(Stop):
        infer_tool.main([
            'lsnet_difffpn_1xb8-10e_synthetic-128x128', str(ckpt), '--pair',
            'a.png', 'b.png', '--out', str(tmp_path / 'out'),
            '--cfg-options', 'model.test_cfg.mode=slide',
            'model.test_cfg.crop_size=(64,64)'
        ])
    (model, ) = seen
    assert isinstance(model, Config)
    assert model.model.test_cfg.mode == 'slide'
    assert tuple(model.model.test_cfg.crop_size) == (64, 64)


# -- 10. an interrupted scene run leaves nothing that looks complete ----------
def write_tif(path, img):
    rasterio = pytest.importorskip('rasterio')
    from affine import Affine
    with rasterio.open(path, 'w', driver='GTiff', height=img.shape[0],
                       width=img.shape[1], count=img.shape[2], dtype='uint8',
                       crs='EPSG:32633', tiled=True, blockxsize=32,
                       blockysize=32,
                       transform=Affine(0.5, 0, 5e5, 0, -0.5, 4e6)) as ds:
        ds.write(np.moveaxis(img, -1, 0))
    return str(path)


def test_interrupted_scene_leaves_no_complete_looking_output(local_model,
                                                             tmp_path):
    cfg_path, ckpt = local_model
    inferencer = ChangeInferencer(cfg_path, ckpt, device='cpu',
                                  show_progress=False, fast=False)
    a, b = make_pair(3, 96, 96)
    pa, pb = write_tif(tmp_path / 'a.tif', a), write_tif(tmp_path / 'b.tif', b)
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    out, prob, vector = (str(out_dir / n)
                         for n in ('change.tif', 'prob.tif', 'change.geojson'))
    predictor = SceneChangePredictor(inferencer, tile=32, overlap=8,
                                     batch_size=1, stripe_width=32)
    # the predictor's per-batch inference (in the calling thread)
    run = predictor._probabilities
    calls = []
    before = {}

    def interrupted(data):
        calls.append(1)
        if len(calls) == 6:
            # mid-scene: under the outputs' names only what was there
            for p in (out, prob, vector):
                assert (open(p, 'rb').read() == before[p] if p in before
                        else not osp.exists(p))
            raise KeyboardInterrupt
        return run(data)

    predictor._probabilities = interrupted
    with pytest.raises(KeyboardInterrupt):
        predictor(pa, pb, out, prob_out=prob, vector_out=vector)
    assert os.listdir(out_dir) == []  # nothing left, not even a part

    # --overwrite: an interrupted run keeps the previous outputs whole
    predictor._probabilities = run
    first = predictor(pa, pb, out, prob_out=prob, vector_out=vector)
    assert sorted(os.listdir(out_dir)) == ['change.geojson', 'change.tif',
                                           'prob.tif']
    before.update({p: open(p, 'rb').read() for p in (out, prob, vector)})
    with pytest.raises(FileExistsError):
        predictor(pa, pb, out)
    calls.clear()
    predictor._probabilities = interrupted
    with pytest.raises(KeyboardInterrupt):
        predictor(pa, pb, out, prob_out=prob, vector_out=vector,
                  overwrite=True)
    assert sorted(os.listdir(out_dir)) == sorted(
        osp.basename(p) for p in before)
    assert all(open(p, 'rb').read() == data for p, data in before.items())
    predictor._probabilities = run
    second = predictor(pa, pb, out, prob_out=prob, vector_out=vector,
                       overwrite=True)
    assert second['changed_pixels'] == first['changed_pixels']
    assert sorted(os.listdir(out_dir)) == sorted(
        osp.basename(p) for p in before)
