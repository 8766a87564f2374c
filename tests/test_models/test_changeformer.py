"""ChangeFormer V6 (ChangeFormerEncoder, ChangeFormerHead): parameter counts
as the official code's, shapes, the official LayerNorm eps and
initialisation, the deep-supervision loss, the fast path, and the tools end
to end."""
import glob
import os.path as osp

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmcd  # noqa: F401
from cli_helpers import LOADERS, loader_options
from cli_helpers import run_python as run_tool
from mmcd.datasets.synthetic import write_synthetic_cdd
from mmcd.models.utils import count_parameters
from mmcd.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'changeformer',
                  'changeformer_v6-e256_1xb16-200e_cdd-256x256.py')
TINY = dict(
    backbone=dict(embed_dims=(8, 16, 24, 32), num_layers=(1, 1, 2, 1),
                  num_heads=(1, 2, 2, 4)),
    neck=dict(in_channels=(8, 16, 24, 32)),
    decode_head=dict(in_channels=(8, 16, 24, 32), channels=16))


def build(tiny=True):
    init_default_scope('mmcd')
    cfg = Config.fromfile(CONFIG)
    if tiny:
        for part, options in TINY.items():
            cfg.model[part].update(options)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


@pytest.fixture(scope='module')
def tiny():
    return build()


def count(module):
    return sum(p.numel() for p in module.parameters())


def test_counts_per_part_equal_the_official_code():
    # wgcban/ChangeFormer ChangeFormerV6(embed_dim=256): Tenc_x2 28,937,408,
    # TDec_x2 12,089,266 (built, never run at full size here)
    model = build(tiny=False)
    assert count(model.backbone) == 28_937_408
    # patch_embed{s} | block{s} | norm{s} of each stage
    assert [[count(m) for m in stage] for stage in model.backbone.layers] == [
        [9_600, 944_640, 128], [401_792, 1_397_760, 256],
        [2_008_000, 6_625_280, 640], [8_029_696, 9_518_592, 1_024]]
    assert count(model.neck) == 0
    head = model.decode_head
    assert count(head) == 12_089_266
    # linear_c1..4 | diff_c1..4 | make_pred_c1..4 | linear_fuse |
    # convd2x+dense_2x+convd1x+dense_1x | change_probability
    assert count(head.embeds) == 263_168
    assert count(head.diff_convs) == 7_081_984
    assert count(head.side_convs) == 18_608
    assert count(head.fuse) == 262_912
    assert sum(count(m) for m in (head.up2x, head.res2x, head.up1x,
                                  head.res1x)) == 4_457_984
    assert count(head.conv_seg) == 4_610
    assert count(model) == count_parameters(model) == 41_026_674


def test_encoder_stages_and_layer_norms_as_the_official():
    model = build(tiny=False)
    stages = model.backbone.layers
    convs = [stage[0].projection for stage in stages]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride,
             c.padding) for c in convs] == [
                 (3, 64, (7, 7), (4, 4), (3, 3)),
                 (64, 128, (7, 7), (2, 2), (3, 3)),
                 (128, 320, (7, 7), (2, 2), (3, 3)),
                 (320, 512, (7, 7), (2, 2), (3, 3))]
    assert [len(stage[1]) for stage in stages] == [3, 3, 4, 3]
    assert [stage[1][0].attn.attn.num_heads for stage in stages] == [
        1, 2, 4, 8]
    # OverlapPatchEmbed and Attention.norm: nn.LayerNorm's 1e-5; blocks and
    # stage norms: 1e-6
    for stage in stages:
        assert stage[0].norm.eps == 1e-5
        assert stage[2].eps == 1e-6
        for block in stage[1]:
            assert block.norm1.eps == block.norm2.eps == 1e-6
            if block.attn.sr_ratio > 1:
                assert block.attn.norm.eps == 1e-5
    # drop path linear from 0 to 0.1 over the 13 layers
    drop = [b.attn.dropout_layer.drop_prob for s in stages for b in s[1]]
    assert drop == pytest.approx(torch.linspace(0, 0.1, 13).tolist())


def test_changeformer_initialisation(tiny):
    # init_net(init_type='normal', init_gain=0.02): conv/linear N(0, 0.02),
    # zero biases, BN weights N(1, 0.02)
    for m in tiny.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            assert m.weight.std().item() == pytest.approx(0.02, rel=0.5)
            assert m.bias is None or not m.bias.any()
        elif isinstance(m, nn.MultiheadAttention):
            assert m.in_proj_weight.std().item() == pytest.approx(
                0.02, rel=0.5)
            assert not m.in_proj_bias.any()
        elif isinstance(m, nn.BatchNorm2d):
            assert (m.weight - 1).abs().max() < 0.1
    weights = torch.cat([m.weight.flatten() for m in tiny.modules()
                         if isinstance(m, (nn.Conv2d, nn.Linear))])
    assert weights.std().item() == pytest.approx(0.02, rel=0.05)


def test_shapes_and_side_outputs(tiny):
    tiny.eval()
    pair = torch.rand(2, 6, 64, 96) * 2 - 1
    with torch.no_grad():
        feats = tiny.backbone(pair[:, :3])
        stacked = tiny.extract_feat(pair)
        final, sides = tiny.decode_head._decode(stacked, with_sides=True)
        logits = tiny.decode_head.forward(stacked)
    assert [tuple(f.shape) for f in feats] == [(2, 8, 16, 24), (2, 16, 8, 12),
                                               (2, 24, 4, 6), (2, 32, 2, 3)]
    assert [tuple(f.shape) for f in stacked] == [
        (2, 16, 16, 24), (2, 32, 8, 12), (2, 48, 4, 6), (2, 64, 2, 3)]
    assert [tuple(s.shape[2:]) for s in sides] == [(2, 3), (4, 6), (8, 12),
                                                   (16, 24)]
    assert logits.shape == final.shape == (2, 2, 64, 96)
    assert torch.equal(logits, final)


def test_head_refuses_unstacked_levels(tiny):
    with pytest.raises(ValueError, match='stack both dates'):
        tiny.decode_head.forward(tiny.backbone(torch.rand(1, 3, 64, 64)))


def _samples(label):
    samples = []
    for b in range(label.shape[0]):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=label[b])
        samples.append(s)
    return samples


def test_deep_supervision_loss_as_the_official(tiny):
    # trainer._backward_G with multi_scale_train: sum of w_i * CE(pred_i,
    # nearest-downsampled label), weights 0.5, 0.5, 0.5, 0.8, 1.0, ignore 255
    torch.manual_seed(0)
    sizes = [(2, 2), (4, 4), (8, 8), (16, 16), (64, 64)]
    logits = [torch.randn(2, 2, *s) for s in sizes]
    label = torch.randint(0, 2, (2, 1, 64, 64))
    label[:, :, :5] = 255
    losses = tiny.decode_head.loss_by_feat(logits, _samples(label))
    assert set(losses) == {'loss_ce_c4', 'loss_ce_c3', 'loss_ce_c2',
                           'loss_ce_c1', 'loss_ce', 'acc_seg'}
    expected = 0
    for w, (name, x) in zip((0.5, 0.5, 0.5, 0.8, 1.0),
                            zip(('_c4', '_c3', '_c2', '_c1', ''), logits)):
        target = F.interpolate(label.float(), size=x.shape[2:],
                               mode='nearest').long()[:, 0]
        term = w * F.cross_entropy(x, target, ignore_index=255)
        assert losses['loss_ce' + name].item() == pytest.approx(
            term.item(), rel=1e-6)
        expected = expected + term
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)


def test_training_supervises_the_side_outputs(tiny):
    tiny.train()
    pair = torch.rand(2, 6, 64, 64) * 2 - 1
    label = torch.randint(0, 2, (2, 1, 64, 64))
    losses = tiny.loss(pair, _samples(label))
    assert {'decode.loss_ce_c4', 'decode.loss_ce_c1',
            'decode.loss_ce'} <= set(losses)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert tiny.decode_head.side_convs[0][0].weight.grad.abs().sum() > 0
    tiny.zero_grad()
    tiny.decode_head.side_loss_weights = []
    try:
        losses = tiny.loss(pair, _samples(label))
    finally:
        tiny.decode_head.side_loss_weights = [0.5, 0.5, 0.5, 0.8]
    assert set(losses) == {'decode.loss_ce', 'decode.acc_seg'}


def test_fast_path_logits_equal_eager(tiny, fast_backend):
    from mmcd.models.segmentors import FastChangeSegmentor
    from mmcd.models.utils import ChangeLogits
    tiny.eval()
    fast = FastChangeSegmentor(tiny, backend=fast_backend[0], strict=True)
    for shape in [(1, 6, 64, 64), (2, 6, 96, 128)]:
        x = torch.rand(shape) * 255
        with torch.inference_mode():
            expected = ChangeLogits(tiny)(x)
            got = fast(x, mode='tensor')
        assert fast.runtime.startswith(fast_backend[1])
        assert got.shape == expected.shape == (shape[0], 2, *shape[2:])
        assert (got - expected).abs().max() < 1e-4


@pytest.mark.slow
def test_train_and_test_end_to_end(tmp_path):
    data_root = str(tmp_path / 'toy')
    write_synthetic_cdd(data_root, num_train=2, num_val=1, num_test=2,
                        size=64, seed=5)
    tiny = [f'model.{part}.{key}={list(value)}'.replace(' ', '')
            if not isinstance(value, int) else f'model.{part}.{key}={value}'
            for part, options in TINY.items()
            for key, value in options.items()]
    opts = ['train_cfg.max_epochs=1', 'default_hooks.logger.interval=1',
            'train_dataloader.batch_size=2',
            # the 256x256 rescale-and-crop at the toy pairs' 64x64
            'train_dataloader.dataset.pipeline.4.scale=(64,64)',
            'train_dataloader.dataset.pipeline.5.crop_size=(64,64)'
            ] + tiny + loader_options(data_root, LOADERS)
    work_dir = str(tmp_path / 'work')
    run_tool([osp.join(REPO, 'tools', 'train.py'), CONFIG, '--work-dir',
              work_dir, '--cfg-options'] + opts, cwd=str(tmp_path))
    ckpt = glob.glob(osp.join(work_dir, 'best_F1_epoch_1.pth'))
    assert len(ckpt) == 1
    out = run_tool([osp.join(REPO, 'tools', 'test.py'), CONFIG, ckpt[0],
                    '--work-dir', str(tmp_path / 'test'), '--cfg-options'] +
                   opts, cwd=str(tmp_path))
    assert 'F1' in out and 'metrics computed with OpenVINO' in out
