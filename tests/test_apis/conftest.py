"""Fixtures for the inference API tests: a tiny model whose receptive field
is known (2 pixels), saved as an mmengine-style checkpoint."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmcd  # noqa: F401
from local_conv_backbone import LocalConvBackbone  # noqa: F401
from mmcd.apis import ChangeInferencer
from mmcd.registry import MODELS

LOCAL_CFG = dict(
    default_scope='mmcd',
    # tests/test_apis is on sys.path (pytest; PYTHONPATH for the CLI tests)
    custom_imports=dict(imports=['local_conv_backbone'],
                        allow_failed_imports=False),
    model=dict(
        type='SiameseEncoderDecoder',
        data_preprocessor=dict(
            type='SegDataPreProcessor', mean=[0.] * 6, std=[255.] * 6,
            bgr_to_rgb=False, pad_val=0, seg_pad_val=255),
        backbone=dict(type='TestLocalConvBackbone'),
        neck=dict(type='TemporalFusionNeck', in_channels=8,
                  policy='abs_diff'),
        decode_head=dict(
            type='FCNHead', in_channels=8, channels=8, num_convs=1,
            kernel_size=1, concat_input=False, num_classes=2,
            loss_decode=dict(type='CrossEntropyLoss')),
        train_cfg=dict(),
        test_cfg=dict(mode='whole')),
    test_dataloader=dict(dataset=dict(pipeline=[
        dict(type='LoadImagePairFromFile'),
        dict(type='LoadChangeAnnotation'),
        dict(type='PackSegInputs'),
    ])))


def save_local_model(root, cfg_dict):
    """Dump ``cfg_dict`` and a checkpoint of its model (weights scaled up
    for a clearly non-trivial change response) under ``root``; return
    (config path, checkpoint path)."""
    cfg = Config(cfg_dict)
    cfg_path = str(root / 'local_cfg.py')
    cfg.dump(cfg_path)
    init_default_scope('mmcd')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    with torch.no_grad():  # a clearly non-trivial change response
        for p in model.parameters():
            p.mul_(4)
    ckpt = str(root / 'local.pth')
    torch.save(dict(
        meta=dict(cfg=cfg.pretty_text, change_threshold=0.5,
                  dataset_meta=dict(classes=('unchanged', 'changed'),
                                    palette=[[0, 0, 0], [255, 255, 255]])),
        state_dict=model.state_dict()), ckpt)
    return cfg_path, ckpt


@pytest.fixture(scope='session')
def local_model(tmp_path_factory):
    """(config path, checkpoint path) of the local model; the checkpoint
    carries meta like one written by tools/train.py."""
    return save_local_model(tmp_path_factory.mktemp('local_model'),
                            LOCAL_CFG)


@pytest.fixture(scope='session')
def sigmoid_local_model(tmp_path_factory):
    """The local model with a 1-channel sigmoid head (its config's
    ``decode_head.threshold`` is 0.3)."""
    cfg = copy.deepcopy(LOCAL_CFG)
    cfg['model']['decode_head'].update(
        out_channels=1, threshold=0.3,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=True))
    return save_local_model(tmp_path_factory.mktemp('sigmoid_model'), cfg)


@pytest.fixture(scope='session')
def inferencer(local_model):
    cfg_path, ckpt = local_model
    return ChangeInferencer(cfg_path, ckpt, device='cpu',
                            show_progress=False)
