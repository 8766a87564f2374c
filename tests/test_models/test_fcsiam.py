"""FC-EF, FC-Siam-conc, FC-Siam-diff (Daudt et al., ICIP 2018): counts per
part, odd sizes, fusion, loss, per-date training passes, fast path, and a
tiny train + test through the tools."""
import glob
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmcd  # noqa: F401
from cli_helpers import loader_options, run_python
from mmcd.datasets.synthetic import write_synthetic_cdd
from mmcd.models.utils import count_parameters
from mmcd.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MODELS_DIR = osp.join(REPO, 'configs', '_base_', 'models')
NAMES = ('fc-ef', 'fc-siam-conc', 'fc-siam-diff')
# (backbone, neck, decode head, inference model) of the official code's
# Unet(6, 2), SiamUnet_conc(3, 2), SiamUnet_diff(3, 2), counted there
COUNTS = {
    'fc-ef': (479808, 0, 870770, 1350578),
    'fc-siam-conc': (479376, 0, 1066610, 1545986),
    'fc-siam-diff': (479376, 0, 870770, 1350146),
}
TINY = dict(stage_channels=(4, 8, 8, 8))


def model_cfg(name, tiny=False):
    init_default_scope('mmcd')
    cfg = Config.fromfile(osp.join(MODELS_DIR, f'{name}_unet.py')).model
    cfg.decode_head.loss_decode.class_weight = [1.0, 1.9]
    if tiny:
        cfg.backbone.update(TINY)
        cfg.decode_head.update(TINY)
        widths = list(TINY['stage_channels']) + [TINY['stage_channels'][-1]]
        if name == 'fc-ef':
            cfg.decode_head.in_channels = widths
        else:
            cfg.neck.in_channels = widths
            cfg.decode_head.in_channels = (
                [2 * c for c in widths[:-1]] + widths[-1:]
                if name == 'fc-siam-conc' else widths)
    return cfg


def samples_for(labels):
    samples = []
    for label in labels:
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=label[None])
        shape = tuple(label.shape)
        sample.set_metainfo(
            dict(img_shape=shape, ori_shape=shape, pad_shape=shape))
        samples.append(sample)
    return samples


@pytest.mark.parametrize('name', NAMES)
def test_parameter_counts_per_part_equal_the_official_code(name):
    model = MODELS.build(model_cfg(name))  # built, never run at full size
    backbone, neck, head, total = COUNTS[name]
    assert count_parameters(model.backbone) == backbone
    assert (count_parameters(model.neck) if model.with_neck else 0) == neck
    assert count_parameters(model.decode_head) == head
    assert count_parameters(model) == total
    expected_type = 'EncoderDecoder' if name == 'fc-ef' else \
        'SiameseEncoderDecoder'
    assert type(model).__name__ == expected_type


@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('size', [(37, 45), (16, 16), (17, 31)])
def test_odd_sizes_give_full_resolution_logits(name, size):
    model = MODELS.build(model_cfg(name, tiny=True)).eval()
    with torch.no_grad():
        logits = model._forward(torch.rand(2, 6, *size))
    assert logits.shape == (2, 2, *size)


def test_decoder_replicate_pads_the_floored_size():
    """Odd skip sizes: the upsampled map is padded at the bottom/right by
    repeating its last row/column (ReplicationPad2d of the original)."""
    head = MODELS.build(model_cfg('fc-ef', tiny=True)).decode_head.eval()
    seen = []
    handle = head.stages[0].register_forward_hook(
        lambda m, args, out: seen.append(args[0]))
    sizes = [(9, 11), (4, 5), (2, 2), (1, 1), (1, 1)]  # as the encoder's
    feats = [torch.rand(1, c, h, w)
             for c, (h, w) in zip((4, 8, 8, 8, 8), sizes)]
    try:
        with torch.no_grad():
            head(feats)
    finally:
        handle.remove()
    upsampled = seen[0][:, :4]  # [upsampled, skip] at 9x11 from 4x5
    assert upsampled.shape[2:] == (9, 11)
    torch.testing.assert_close(upsampled[..., 8, :], upsampled[..., 7, :])
    torch.testing.assert_close(upsampled[..., :, 10], upsampled[..., :, 9])
    assert not torch.equal(upsampled[..., 7, :], upsampled[..., 6, :])


@pytest.mark.parametrize('name, skip', [
    ('fc-siam-conc', lambda a, b: torch.cat([a, b], 1)),
    ('fc-siam-diff', lambda a, b: (a - b).abs()),
])
def test_siamese_fusion_and_date_b_bottleneck(name, skip):
    model = MODELS.build(model_cfg(name, tiny=True)).eval()
    inputs = torch.rand(1, 6, 32, 32)
    with torch.no_grad():
        feats_a, feats_b = model.extract_date_feats(inputs)
        fused = model.extract_feat(inputs)
    assert len(fused) == 5
    for out, a, b in zip(fused[:4], feats_a, feats_b):
        torch.testing.assert_close(out, skip(a, b))
    # the decoder starts from date B's pooled last stage, as the original
    torch.testing.assert_close(fused[4], feats_b[4])
    torch.testing.assert_close(fused[4], F.max_pool2d(feats_b[3], 2))


def test_neck_policy_errors():
    with pytest.raises(ValueError, match='one entry per level'):
        MODELS.build(dict(type='TemporalFusionNeck', in_channels=(4, 8),
                          policy=('cat', )))
    with pytest.raises(ValueError, match="'cat' gives 8"):
        MODELS.build(dict(type='TemporalFusionNeck', in_channels=4,
                          policy='cat', out_channels=4))


@pytest.mark.parametrize('name', ['fc-siam-conc', 'fc-siam-diff'])
def test_training_runs_one_encoder_pass_per_date(name):
    """Per-date BatchNorm statistics and dropout masks in training, as the
    original's two encoder calls."""
    model = MODELS.build(model_cfg(name, tiny=True)).train()
    calls = []
    handle = model.backbone.register_forward_hook(
        lambda m, args, out: calls.append(args[0].shape[0]))
    try:
        model.loss(torch.rand(2, 6, 16, 16),
                   samples_for(torch.randint(0, 2, (2, 16, 16))))
    finally:
        handle.remove()
    assert calls == [2, 2]


def test_weighted_mean_cross_entropy_is_torch_nll_with_weights():
    loss = MODELS.build(dict(type='WeightedMeanCrossEntropyLoss',
                             class_weight=[0.5, 3.0]))
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 2, 5, 7, generator=g)
    label = torch.randint(0, 2, (2, 5, 7), generator=g)
    label[0, 0, :3] = 255
    expected = F.nll_loss(
        F.log_softmax(logits, 1), label, ignore_index=255,
        weight=torch.tensor([0.5, 3.0]))
    got = loss(logits, label, ignore_index=255)
    torch.testing.assert_close(got, expected)
    label[0, 0, :3] = 1  # no ignored pixels
    torch.testing.assert_close(
        loss(logits, label, ignore_index=255),
        F.nll_loss(F.log_softmax(logits, 1), label,
                   weight=torch.tensor([0.5, 3.0])))
    label[0, 0, :3] = 255
    plain = MODELS.build(dict(type='WeightedMeanCrossEntropyLoss'))
    torch.testing.assert_close(
        plain(logits, label, ignore_index=255),
        F.cross_entropy(logits, label, ignore_index=255))


@pytest.mark.slow
@pytest.mark.parametrize('name', NAMES)
def test_fast_path_logits_equal_eager(name, fast_backend):
    model = MODELS.build(model_cfg(name, tiny=True)).eval()
    # trained-like BatchNorm statistics
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    fast = MODELS.build(dict(type='FastChangeSegmentor', module=model,
                             backend=fast_backend[0], strict=True))
    inputs = torch.rand(2, 6, 37, 45)  # exported at 64x64: odd sizes pad
    with torch.no_grad():
        eager = model._forward(inputs)
        got = fast._forward(inputs)
    assert fast.runtime.startswith(fast_backend[1])
    assert (got - eager).abs().max() < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize('name', NAMES)
def test_train_and_test_tools_end_to_end(name, tmp_path):
    data_root = str(tmp_path / 'toy')
    write_synthetic_cdd(data_root, num_train=4, num_val=2, num_test=2,
                        size=32, seed=1)
    (config, ) = glob.glob(
        osp.join(REPO, 'configs', 'fcsiam', f'{name}_unet_*_cdd-*.py'))
    opts = ['train_cfg.max_epochs=1', 'train_dataloader.batch_size=2',
            'default_hooks.checkpoint.interval=1',
            'default_hooks.logger.interval=1'] + loader_options(data_root)
    work_dir = str(tmp_path / 'work')
    run_python([osp.join(REPO, 'tools', 'train.py'), config, '--work-dir',
                work_dir, '--cfg-options'] + opts, cwd=str(tmp_path))
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    out = run_python([osp.join(REPO, 'tools', 'test.py'), config,
                      osp.join(work_dir, 'epoch_1.pth'), '--work-dir',
                      str(tmp_path / 'test'), '--cfg-options'] + opts,
                     cwd=str(tmp_path))
    assert 'F1' in out and 'metrics computed with OpenVINO' in out


def test_pair_channels_of_early_fusion_without_mean():
    """Without a preprocessor mean, FC-EF's input channels are its
    backbone's (the 2C stack), a Siamese model's twice its backbone's."""
    from mmcd.models.utils import pair_channels
    for name in NAMES:
        cfg = model_cfg(name, tiny=True)
        cfg.data_preprocessor = None
        assert pair_channels(MODELS.build(cfg)) == 6
