"""Whole Siamese segmentors built from config dicts: LSNet and an mmseg
backbone with TemporalFusionNeck + FCNHead."""
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmcd  # noqa: F401
from mmcd.models.utils import count_parameters
from mmcd.registry import MODELS

SIZE = 32


@pytest.fixture(scope='module', autouse=True)
def mmcd_scope():
    # as in mmcd's configs (default_scope='mmcd'): mmengine's BaseModel
    # builds the data preprocessor through the default scope
    init_default_scope('mmcd')


DATA_PREPROCESSOR = dict(
    type='SegDataPreProcessor',
    mean=[0.] * 6,
    std=[1.] * 6,
    bgr_to_rgb=False,
    size=(SIZE, SIZE),
    pad_val=0,
    seg_pad_val=255)
LSNET_LOSSES = [
    dict(type='CrossEntropyLoss', avg_non_ignore=True, loss_weight=1.0),
    dict(type='SoftDiceLoss', loss_weight=1.0),
]


def lsnet_cfg(neck=dict(type='DiffFPN'), head_in=(32, 32, 64), **head):
    # ConfigDict, as a loaded config: EncoderDecoder reads test_cfg.mode
    return ConfigDict(
        type='SiameseEncoderDecoder',
        data_preprocessor=DATA_PREPROCESSOR,
        backbone=dict(type='LightSiamese'),
        neck=neck,
        decode_head=dict(
            type='CAMHead',
            in_channels=list(head_in),
            num_classes=2,
            loss_decode=LSNET_LOSSES,
            **head),
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))


def resnet_cfg(policy):
    in_channels = [64, 128, 256, 512]
    neck = dict(type='TemporalFusionNeck', in_channels=in_channels,
                policy=policy)
    if policy == 'concat':
        neck['out_channels'] = [32, 64, 128, 256]
        in_channels = neck['out_channels']
    return ConfigDict(
        type='SiameseEncoderDecoder',
        data_preprocessor=DATA_PREPROCESSOR,
        backbone=dict(type='ResNetV1c', depth=18, in_channels=3,
                      norm_cfg=dict(type='BN', requires_grad=True)),
        neck=neck,
        decode_head=dict(
            type='FCNHead',
            in_channels=in_channels[-1],
            in_index=3,
            channels=16,
            num_convs=1,
            concat_input=False,
            num_classes=2,
            loss_decode=LSNET_LOSSES),
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))


def make_batch(model, batch_size=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.randint(0, 256, (6, SIZE, SIZE), generator=g,
                                    dtype=torch.uint8))
        label = torch.randint(0, 2, (1, SIZE, SIZE), generator=g)
        label[0, :2, :2] = 255  # some ignored pixels
        sample = SegDataSample(
            gt_sem_seg=PixelData(data=label),
            metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE),
                          pad_shape=(SIZE, SIZE)))
        samples.append(sample)
    return model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), True)


def check_loss_and_predict(model):
    data = make_batch(model)
    assert data['inputs'].shape == (2, 6, SIZE, SIZE)
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    assert {'decode.loss_ce', 'decode.loss_dice'} <= set(losses)
    for name, value in losses.items():
        assert torch.isfinite(value).all(), name
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters()
               if p.grad is not None)
    model.eval()
    with torch.no_grad():
        preds = model.predict(data['inputs'], data['data_samples'])
    assert len(preds) == 2
    for pred in preds:
        assert pred.pred_sem_seg.data.shape == (1, SIZE, SIZE)
        assert pred.seg_logits.data.shape == (2, SIZE, SIZE)
        assert set(pred.pred_sem_seg.data.unique().tolist()) <= {0, 1}
    return losses


@pytest.fixture(scope='module')
def lsnet():
    torch.manual_seed(0)
    model = MODELS.build(lsnet_cfg())
    model.init_weights()
    return model


@pytest.mark.slow
def test_lsnet_difffpn_loss_and_predict(lsnet):
    assert count_parameters(lsnet) == 1_207_706
    check_loss_and_predict(lsnet)


def test_backbone_runs_once_on_both_dates(lsnet):
    calls = []
    handle = lsnet.backbone.register_forward_hook(
        lambda module, args, out: calls.append(tuple(args[0].shape)))
    try:
        data = make_batch(lsnet, batch_size=2)
        lsnet.train()
        lsnet.loss(data['inputs'], data['data_samples'])
    finally:
        handle.remove()
    assert calls == [(4, 3, SIZE, SIZE)]


def test_date_passes_apart_in_eval_only(lsnet):
    """joint_date_pass=False: one backbone pass per date in eval mode, with
    the joint pass's features; training keeps the joint pass."""
    calls = []
    handle = lsnet.backbone.register_forward_hook(
        lambda module, args, out: calls.append(tuple(args[0].shape)))
    inputs = torch.rand(2, 6, SIZE, SIZE)
    try:
        lsnet.eval()
        with torch.no_grad():
            joint = lsnet.extract_feat(inputs)
            lsnet.joint_date_pass = False
            apart = lsnet.extract_feat(inputs)
        assert calls[1:] == [(2, 3, SIZE, SIZE)] * 2
        for a, b in zip(joint, apart):
            torch.testing.assert_close(a, b)
        calls.clear()
        data = make_batch(lsnet, batch_size=2)
        lsnet.train()
        lsnet.loss(data['inputs'], data['data_samples'])
        assert calls == [(4, 3, SIZE, SIZE)]
    finally:
        handle.remove()
        del lsnet.joint_date_pass


@pytest.mark.slow
def test_dates_are_kept_apart(lsnet):
    """Date A's channels go to the backbone's first half of the batch."""
    lsnet.eval()
    seen = {}
    handle = lsnet.neck.register_forward_hook(
        lambda module, args, out: seen.update(a=args[0], b=args[1]))
    inputs = torch.rand(1, 6, SIZE, SIZE)
    try:
        with torch.no_grad():
            lsnet.extract_feat(inputs)
            feats = lsnet.backbone(inputs[:, :3])
    finally:
        handle.remove()
    torch.testing.assert_close(seen['a'][0], feats[0])
    assert not torch.allclose(seen['b'][0], feats[0])


@pytest.mark.parametrize('neck, head_in, total', [
    (dict(type='DiffFPN', thin=True), (32, 64), 1_167_922),
    (dict(type='DenseFPN'), (32, 32, 32), 1_096_694),
])
def test_lsnet_variants_build_and_count(neck, head_in, total):
    model = MODELS.build(lsnet_cfg(neck=neck, head_in=head_in))
    assert count_parameters(model) == total
    model.eval()
    with torch.no_grad():
        logits = model(torch.rand(1, 6, SIZE, SIZE), mode='tensor')
    assert logits.shape == (1, 2, SIZE, SIZE)


def test_lsnet_densefpn_with_ecam_trains():
    model = MODELS.build(
        lsnet_cfg(neck=dict(type='DenseFPN'), head_in=(32, 32, 32),
                  attention='ecam'))
    check_loss_and_predict(model)


@pytest.mark.parametrize('policy', ['abs_diff', 'concat'])
@pytest.mark.slow
def test_mmseg_resnet_with_temporal_fusion(policy):
    torch.manual_seed(0)
    model = MODELS.build(resnet_cfg(policy))
    model.init_weights()
    calls = []
    handle = model.backbone.register_forward_hook(
        lambda module, args, out: calls.append(args[0].shape[0]))
    try:
        check_loss_and_predict(model)
    finally:
        handle.remove()
    assert calls == [4, 4]  # loss and predict, both dates in one pass


def test_slide_inference_covers_odd_sizes(lsnet):
    """mmseg's slide inference works unchanged on the 2C input."""
    lsnet.eval()
    g = torch.Generator().manual_seed(3)
    inputs = torch.rand(1, 6, 40, 56, generator=g) * 255
    meta = dict(img_shape=(40, 56), ori_shape=(40, 56), pad_shape=(40, 56))
    slide = ConfigDict(mode='slide', crop_size=(32, 32), stride=(16, 16))
    whole, lsnet.test_cfg = lsnet.test_cfg, slide
    try:
        with torch.no_grad():
            logits = lsnet.inference(inputs, [meta])
    finally:
        lsnet.test_cfg = whole
    assert logits.shape == (1, 2, 40, 56)
    assert torch.isfinite(logits).all()
    # rows 0-7 / columns 0-15 lie in the top-left window only (the next
    # windows start at row 8 and column 16): there slide == that window
    with torch.no_grad():
        corner = lsnet.encode_decode(inputs[..., :32, :32], [meta])
    assert torch.allclose(logits[..., :8, :16], corner[..., :8, :16],
                          atol=1e-4)


def test_deep_supervision_config_adds_weighted_auxiliary_losses():
    from mmengine.config import Config
    import os.path as osp
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    cfg = Config.fromfile(osp.join(
        repo, 'configs', 'lsnet',
        'lsnet_difffpn-ds_1xb12-100e_cdd-256x256.py'))
    cfg.model.data_preprocessor = DATA_PREPROCESSOR
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    data = make_batch(model)
    losses = model.loss(data['inputs'], data['data_samples'])
    for prefix in ('decode', 'aux_0', 'aux_1'):
        assert {f'{prefix}.loss_ce', f'{prefix}.loss_dice'} <= set(losses)
    weights = [h.loss_decode[0].loss_weight for h in model.auxiliary_head]
    assert weights == [0.25, 0.125]
