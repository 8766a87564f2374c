"""Real-time BiSeNetV2 change detector: branches backbone, BGA head, booster
heads (training only), configs end to end."""
import glob
import os
import os.path as osp

import pytest
import torch
from mmcv.cnn import ConvModule
from mmengine.config import Config, ConfigDict
from mmengine.fileio import load
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmcd  # noqa: F401
from cli_helpers import loader_options, run_python
from mmcd.datasets.synthetic import write_synthetic_cdd
from mmcd.models import BGAHead, BiSeNetV2Branches
from mmcd.models.utils import count_parameters
from mmcd.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO, 'configs', 'bisenetv2_cd')
CDD_CONFIG = osp.join(CONFIG_DIR,
                      'bisenetv2cd_bga-booster_1xb16-40k_cdd-256x256.py')
SIZE = 32

# mmseg 1.2.2 module sizes (design/models.md section 4)
DETAIL, SEMANTIC, BGA = 519_232, 1_159_504, 478_976


def fcn_params(c_in, c, num_convs):
    """FCNHead by hand: 3x3 convs without bias + BN, then 1x1 conv to 2."""
    convs = c_in * c * 9 + 2 * c + (num_convs - 1) * (c * c * 9 + 2 * c)
    return convs + c * 2 + 2


# inference model: branches + parameter-free abs-diff fusion + BGA head
# (BGA, 3x3 segment conv 128->128 + BN, conv_seg 128->2)
INFERENCE_PARAMS = DETAIL + SEMANTIC + BGA + fcn_params(128, 128, 1)
# + boosters on the fused semantic stages, mmseg's widths
BOOSTER_PARAMS = (fcn_params(16, 16, 2) + fcn_params(32, 64, 2) +
                  fcn_params(64, 256, 2) + fcn_params(128, 1024, 2))


@pytest.fixture(scope='module', autouse=True)
def mmcd_scope():
    init_default_scope('mmcd')


def model_cfg(**changes):
    """The CDD config's model (SIZE is a multiple of its size_divisor 32)."""
    cfg = Config.fromfile(CDD_CONFIG)
    cfg.merge_from_dict({f'model.{k}': v for k, v in changes.items()})
    return cfg.model


def make_batch(model, batch_size=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.randint(0, 256, (6, SIZE, SIZE), generator=g,
                                    dtype=torch.uint8))
        label = torch.randint(0, 2, (1, SIZE, SIZE), generator=g)
        samples.append(SegDataSample(
            gt_sem_seg=PixelData(data=label),
            metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE),
                          pad_shape=(SIZE, SIZE))))
    return model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), True)


@pytest.fixture(scope='module')
def bisenet_cd():
    torch.manual_seed(0)
    model = MODELS.build(model_cfg())
    model.init_weights()
    return model


def test_branches_are_mmseg_bisenetv2s():
    """Same weights as mmseg's BiSeNetV2 give its semantic outputs; the
    detail feature comes unaggregated."""
    torch.manual_seed(0)
    ours = BiSeNetV2Branches().eval()
    theirs = MODELS.build(dict(type='BiSeNetV2')).eval()  # mmseg's
    missing, unexpected = theirs.load_state_dict(ours.state_dict(),
                                                 strict=False)
    assert unexpected == [] and all(k.startswith('bga.') for k in missing)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        feats = ours(x)
        ref = theirs(x)
        detail = theirs.detail(x)
    assert [tuple(f.shape[1:]) for f in feats] == [
        (128, 8, 8), (16, 16, 16), (32, 8, 8), (64, 4, 4), (128, 2, 2),
        (128, 2, 2)]
    assert ours.out_channels == (128, 16, 32, 64, 128, 128)
    for i in range(1, 5):
        torch.testing.assert_close(feats[i], ref[i])
    torch.testing.assert_close(feats[0], detail)
    assert count_parameters(ours.detail, exclude=()) == DETAIL
    assert count_parameters(ours.semantic, exclude=()) == SEMANTIC


def test_branches_out_indices():
    backbone = BiSeNetV2Branches(out_indices=(0, 5))
    assert backbone.out_channels == (128, 128)
    with torch.no_grad():
        assert len(backbone.eval()(torch.rand(1, 3, 32, 32))) == 2
    with pytest.raises(ValueError, match=r'out_indices .*\[6\]'):
        BiSeNetV2Branches(out_indices=(0, 6))


def test_parameter_counts_with_and_without_boosters(bisenet_cd):
    assert count_parameters(bisenet_cd.decode_head.bga, exclude=()) == BGA
    inference = sum(
        count_parameters(m, exclude=())
        for m in (bisenet_cd.backbone, bisenet_cd.neck,
                  bisenet_cd.decode_head))
    assert inference == INFERENCE_PARAMS == 2_305_682
    assert count_parameters(bisenet_cd, exclude=()) == (
        INFERENCE_PARAMS + BOOSTER_PARAMS) == 13_727_866
    # the model built for deployment, without booster heads
    deployed = MODELS.build(model_cfg(auxiliary_head=None))
    assert count_parameters(deployed, exclude=()) == INFERENCE_PARAMS


def count_calls(modules):
    calls = [0] * len(modules)
    handles = [
        m.register_forward_hook(
            lambda *args, i=i: calls.__setitem__(i, calls[i] + 1))
        for i, m in enumerate(modules)
    ]
    return calls, handles


def test_boosters_run_in_training_only(bisenet_cd):
    data = make_batch(bisenet_cd)
    # heads' loss() calls forward() directly: hook their classifiers
    calls, handles = count_calls(
        [head.conv_seg for head in bisenet_cd.auxiliary_head])
    try:
        bisenet_cd.train()
        losses = bisenet_cd.loss(data['inputs'], data['data_samples'])
        assert calls == [1, 1, 1, 1]
        bisenet_cd.eval()
        with torch.no_grad():
            preds = bisenet_cd.predict(data['inputs'], data['data_samples'])
            logits = bisenet_cd(data['inputs'], mode='tensor')
        assert calls == [1, 1, 1, 1]  # no booster ran at inference
    finally:
        for h in handles:
            h.remove()
    for i in range(4):
        assert {f'aux_{i}.loss_ce', f'aux_{i}.loss_dice'} <= set(losses)
    assert {'decode.loss_ce', 'decode.loss_dice'} <= set(losses)
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert logits.shape == (2, 2, SIZE // 8, SIZE // 8)  # BGA at 1/8
    assert preds[0].pred_sem_seg.data.shape == (1, SIZE, SIZE)

    # the same weights without boosters predict exactly the same
    deployed = MODELS.build(model_cfg(auxiliary_head=None))
    missing, unexpected = deployed.load_state_dict(bisenet_cd.state_dict(),
                                                   strict=False)
    assert missing == []
    assert unexpected and all(
        k.startswith('auxiliary_head.') for k in unexpected)
    deployed.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            deployed(data['inputs'], mode='tensor'), logits)


@pytest.mark.slow
def test_booster_weights_scale_their_losses_and_change_training():
    """Each booster has its own weight; boosters change the gradients."""

    torch.manual_seed(0)
    weights = MODELS.build(model_cfg()).state_dict()

    def losses_and_grad(**changes):
        model = MODELS.build(model_cfg(**changes))
        model.load_state_dict(weights, strict=False)  # the same weights
        model.train()
        data = make_batch(model)
        torch.manual_seed(1)  # the same dropout masks in the decode head
        losses = model.loss(data['inputs'], data['data_samples'])
        total = sum(v for k, v in losses.items() if 'loss' in k)
        total.backward()
        grad = model.backbone.semantic.stage2[0].conv1.conv.weight.grad
        return losses, total, grad.clone()

    base, total, grad = losses_and_grad()
    cfg = model_cfg()
    heads = cfg.auxiliary_head
    for loss in heads[2].loss_decode:
        loss.loss_weight = 0.25
    halved, _, _ = losses_and_grad(auxiliary_head=heads)
    for key in ('aux_2.loss_ce', 'aux_2.loss_dice'):
        torch.testing.assert_close(halved[key], base[key] * 0.25)
    for key in ('decode.loss_ce', 'aux_0.loss_ce', 'aux_3.loss_dice'):
        torch.testing.assert_close(halved[key], base[key])

    plain, plain_total, plain_grad = losses_and_grad(auxiliary_head=None)
    assert not any(k.startswith('aux') for k in plain)
    torch.testing.assert_close(plain['decode.loss_ce'], base['decode.loss_ce'])
    aux_sum = sum(v for k, v in base.items()
                  if k.startswith('aux') and 'loss' in k)
    torch.testing.assert_close(total, plain_total + aux_sum)
    assert not torch.allclose(grad, plain_grad)


@pytest.mark.parametrize('policy', ['sum', 'concat'])
def test_other_fusion_policies(policy):
    model = MODELS.build(model_cfg(neck=dict(policy=policy)))
    data = make_batch(model)
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    assert all(torch.isfinite(v).all() for v in losses.values())
    if policy == 'concat':
        # six 1x1 conv(2c -> c) + BN projections
        fusion = sum(2 * c * c + 2 * c for c in (128, 16, 32, 64, 128, 128))
        assert count_parameters(model.neck, exclude=()) == fusion


def test_bga_head_on_light_siamese_levels():
    """BGA head mixed with LSNet parts: LightSiamese levels 1 (1/2, 131 ch)
    and 3 (1/8, 512 ch) through in_index, projected to bga_channels."""
    cfg = ConfigDict(
        type='SiameseEncoderDecoder',
        data_preprocessor=dict(
            type='SegDataPreProcessor', mean=[0.] * 6, std=[1.] * 6,
            size=(SIZE, SIZE), seg_pad_val=255),
        backbone=dict(type='LightSiamese'),
        neck=dict(type='TemporalFusionNeck', in_channels=(35, 131, 256, 512),
                  policy='abs_diff'),
        decode_head=dict(
            type='BGAHead', in_channels=[131, 512], in_index=[1, 3],
            bga_channels=64, channels=32, num_classes=2),
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))
    model = MODELS.build(cfg)
    head = model.decode_head
    assert all(isinstance(p, ConvModule) for p in head.input_projections)
    assert head.input_projections[0].conv.in_channels == 131
    assert head.input_projections[1].conv.in_channels == 512
    data = make_batch(model)
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    assert torch.isfinite(losses['decode.loss_ce'])
    seen = {}
    handle = head.bga.register_forward_hook(
        lambda m, args, out: seen.update(d=args[0].shape, s=args[1].shape))
    model.eval()
    try:
        with torch.no_grad():
            logits = model(data['inputs'], mode='tensor')
    finally:
        handle.remove()
    assert seen['d'] == (2, 64, SIZE // 2, SIZE // 2)
    assert seen['s'] == (2, 64, SIZE // 8, SIZE // 8)
    assert logits.shape == (2, 2, SIZE // 2, SIZE // 2)


def test_bga_head_names_wrong_inputs():
    with pytest.raises(ValueError, match='two inputs'):
        BGAHead(in_channels=[128], in_index=[0], channels=8, num_classes=2)
    head = BGAHead(in_channels=[16, 128], in_index=[1, 5], channels=8,
                   num_classes=2).eval()
    feats = [torch.rand(1, c, s, s)
             for c, s in zip((128, 16, 32, 64, 128, 128),
                             (8, 16, 8, 4, 2, 2))]
    with pytest.raises(ValueError, match=r'in_index 5.*16x16 needs '
                       r'semantic 4x4, got 2x2'):
        head(feats)
    head = BGAHead(in_channels=[128, 64], in_index=[0, 5], channels=8,
                   num_classes=2).eval()
    with pytest.raises(ValueError, match=r'semantic input \(in_index 5\) '
                       r'has 128 channels, in_channels says 64'):
        head(feats)


def run_tool(args, cwd):
    return run_python(args, cwd, env=dict(os.environ, OMP_NUM_THREADS='1'))


def tiny_options(data_root):
    opts = ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
            'default_hooks.checkpoint.interval=2',
            'default_hooks.logger.interval=1',
            'train_dataloader.batch_size=2']
    opts += loader_options(data_root)
    return opts


@pytest.mark.slow
def test_train_and_test_end_to_end_deployed_without_boosters(tmp_path):
    data_root = str(tmp_path / 'toy')
    write_synthetic_cdd(data_root, num_train=4, num_val=2, num_test=3,
                        size=SIZE, seed=3)
    work_dir = str(tmp_path / 'work')
    out = run_tool([osp.join(REPO, 'tools', 'train.py'), CDD_CONFIG,
                    '--work-dir', work_dir, '--cfg-options'] +
                   tiny_options(data_root), cwd=str(tmp_path))
    assert 'Iter(train) [2/2]' in out and 'aux_3.loss_ce' in out
    ckpt = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(ckpt)
    assert len(glob.glob(osp.join(work_dir, 'best_F1_iter_*.pth'))) == 1

    # test with the deployed model: no booster heads; the checkpoint's
    # booster weights are left out, nothing the model needs is missing
    out = run_tool([osp.join(REPO, 'tools', 'test.py'), CDD_CONFIG, ckpt,
                    '--work-dir', str(tmp_path / 'test'), '--cfg-options'] +
                   tiny_options(data_root) + ['model.auxiliary_head=None'],
                   cwd=str(tmp_path))
    assert 'unexpected key in source state_dict: auxiliary_head.0' in out
    assert 'missing keys' not in out
    metrics = load(glob.glob(str(tmp_path / 'test' / '*' / '*.json'))[0])
    for key in ('Precision', 'Recall', 'F1', 'IoU', 'OA', 'Kappa'):
        assert 0.0 <= metrics[key] <= 1.0
