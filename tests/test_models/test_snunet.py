"""SNUNet-CD (likyoo/Siam-NestedUNet, models/Models.py SNUNet_ECAM) in mmcd:
NestedUNetEncoder + NestedUNetDecoder + CAMHead(attention='ecam').

Counts are the original code's (12,034,978 at c=32, 3,012,178 at c=16), per
part; the decoder's wiring is checked against the original's node
equations written out here; the loss against closed forms."""
import copy
import glob
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmcd  # noqa: F401
from cli_helpers import loader_options, run_python
from mmcd.datasets.synthetic import write_synthetic_cdd
from mmcd.models.utils import ChangeLogits, count_parameters
from mmcd.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(REPO, 'configs', 'snunet')
C32_CDD = osp.join(CONFIGS, 'snunet_c32_1xb16-100e_cdd-256x256.py')
C16_CDD = osp.join(CONFIGS, 'snunet_c16_1xb16-100e_cdd-256x256.py')
# c=4: the smallest width ECAM's reductions (16 on 4c, 4 on c) allow
TINY = ['model.backbone.base_channels=4',
        'model.neck.in_channels=[4,8,16,32]',
        'model.decode_head.in_channels=[4,4,4,4]',
        'model.decode_head.channels=16']


def build(config, options=()):
    init_default_scope('mmcd')
    cfg = Config.fromfile(config)
    if options:
        cfg.merge_from_dict(
            {k: eval(v) for k, v in (o.split('=', 1) for o in options)})
    return MODELS.build(cfg.model)


@pytest.fixture(scope='module')
def tiny():
    torch.manual_seed(0)
    model = build(C32_CDD, TINY)
    model.init_weights()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.bias.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.mark.parametrize('config, parts', [
    (C32_CDD, dict(backbone=1174176, neck=10857984, decode_head=2818)),
    (C16_CDD, dict(backbone=294480, neck=2716928, decode_head=770)),
])
def test_parameter_counts_are_the_original_codes(config, parts):
    """Original SNUNet_ECAM: encoder conv0_0..conv3_0 (backbone), conv4_0 +
    nested nodes + transposed convs (neck), ca/ca1 + conv_final (head)."""
    model = build(config)  # built at full width, never run
    for part, count in parts.items():
        assert count_parameters(getattr(model, part), exclude=()) == count
    total = count_parameters(model, exclude=())
    assert total == sum(parts.values())
    assert total == {C32_CDD: 12034978, C16_CDD: 3012178}[config]


def block_params(cin, c):
    """conv_block_nested(cin, c, c): two biased 3x3 convs and two BNs."""
    return 9 * cin * c + c + 9 * c * c + c + 4 * c


def test_counts_follow_the_architecture_at_any_width():
    c = 8
    f = [c * 2**i for i in range(5)]
    model = build(C32_CDD, [
        f'model.backbone.base_channels={c}',
        f'model.neck.in_channels={f[:4]}',
        f'model.decode_head.in_channels={[c] * 4}',
        f'model.decode_head.channels={4 * c}'])
    encoder = block_params(3, f[0]) + sum(
        block_params(f[i - 1], f[i]) for i in range(1, 4))
    nodes = block_params(f[3], f[4]) + sum(
        block_params((j + 1) * f[i] + f[i + 1], f[i])
        for j in range(1, 5) for i in range(5 - j))
    ups = sum(4 * f[i] * f[i] + f[i]
              for j in range(4) for i in range(1, 5 - j))
    head = 2 * (4 * c * (4 * c // 16)) + 2 * (c * (c // 4)) + 4 * c * 2 + 2
    assert count_parameters(model.backbone, exclude=()) == encoder
    assert count_parameters(model.neck, exclude=()) == nodes + ups
    assert count_parameters(model.decode_head, exclude=()) == head


def test_shapes(tiny):
    x = torch.rand(2, 6, 32, 48) * 255
    with torch.no_grad():
        feats_a, feats_b = tiny.extract_date_feats(x)
        assert [f.shape[1:] for f in feats_a] == [
            (4, 32, 48), (8, 16, 24), (16, 8, 12), (32, 4, 6)]
        outs = tiny.neck(feats_a, feats_b)
        assert [o.shape for o in outs] == [(2, 4, 32, 48)] * 4
        assert tiny.decode_head(outs).shape == (2, 2, 32, 48)


def test_decoder_wiring_is_the_originals(tiny):
    """SNUNet_ECAM.forward's node equations, written out: only the later
    date's deeper features are upsampled; x4_0 exists for date B only."""
    neck, head = tiny.neck, tiny.decode_head
    x = torch.rand(1, 6, 32, 32) * 255
    with torch.no_grad():
        (a0, a1, a2, a3), (b0, b1, b2, b3) = tiny.extract_date_feats(x)
        n = {f'{i}_{j}': getattr(neck, f'block{i}_{j}')
             for i in range(5) for j in range(5) if hasattr(
                 neck, f'block{i}_{j}')}
        up = {k: getattr(neck, f'up{k}') for k in (
            '1_0', '2_0', '3_0', '4_0', '1_1', '2_1', '3_1', '1_2', '2_2',
            '1_3')}
        b4 = n['4_0'](F.max_pool2d(b3, 2))
        x0_1 = n['0_1'](torch.cat([a0, b0, up['1_0'](b1)], 1))
        x1_1 = n['1_1'](torch.cat([a1, b1, up['2_0'](b2)], 1))
        x0_2 = n['0_2'](torch.cat([a0, b0, x0_1, up['1_1'](x1_1)], 1))
        x2_1 = n['2_1'](torch.cat([a2, b2, up['3_0'](b3)], 1))
        x1_2 = n['1_2'](torch.cat([a1, b1, x1_1, up['2_1'](x2_1)], 1))
        x0_3 = n['0_3'](torch.cat([a0, b0, x0_1, x0_2, up['1_2'](x1_2)], 1))
        x3_1 = n['3_1'](torch.cat([a3, b3, up['4_0'](b4)], 1))
        x2_2 = n['2_2'](torch.cat([a2, b2, x2_1, up['3_1'](x3_1)], 1))
        x1_3 = n['1_3'](torch.cat([a1, b1, x1_1, x1_2, up['2_2'](x2_2)], 1))
        x0_4 = n['0_4'](
            torch.cat([a0, b0, x0_1, x0_2, x0_3, up['1_3'](x1_3)], 1))
        expected = (x0_1, x0_2, x0_3, x0_4)
        got = neck((a0, a1, a2, a3), (b0, b1, b2, b3))
        for e, g in zip(expected, got):
            torch.testing.assert_close(g, e, rtol=0, atol=0)
        # ECAM: CA_4c(out) * (out + repeat4(CA_c(sum)))
        out = torch.cat(expected, 1)
        att = head.attention
        ecam = att.attention(out) * (
            out + att.intra_attention(sum(expected)).repeat(1, 4, 1, 1))
        torch.testing.assert_close(head(got), head.conv_seg(ecam))
    assert len(n) == 11 and not hasattr(neck, 'block5_0')


def test_backbone_runs_once_per_date_in_training(tiny):
    """joint_train_pass=False (the original): in training, each date's
    BatchNorm uses its own batch statistics."""
    assert tiny.joint_train_pass is False
    x = torch.rand(2, 6, 32, 32) * 255
    tiny.train()
    try:
        with torch.no_grad():
            feats_a, feats_b = tiny.extract_date_feats(x)
            alone_a = tiny.backbone(x[:, :3])
            alone_b = tiny.backbone(x[:, 3:])
            joint = tiny.backbone(torch.cat([x[:, :3], x[:, 3:]]))
        for f, a, b, j in zip(feats_a, alone_a, alone_b, joint):
            torch.testing.assert_close(f, a, rtol=0, atol=0)
            assert not torch.allclose(j[:2], a)
        for f, b in zip(feats_b, alone_b):
            torch.testing.assert_close(f, b, rtol=0, atol=0)
    finally:
        tiny.eval()


def loss_of(model, logits, labels):
    return sum(loss(logits, labels)
               for loss in model.decode_head.loss_decode)


def test_loss_closed_forms(tiny):
    """The original hybrid_loss: FocalLoss(gamma=0, alpha=None) (mean
    cross-entropy) + dice_loss, whose sums over dims (0, 2) of a (B, H, W)
    target run over batch and height: one Dice per class and image column.

    Zero logits (p = 1/2), 2x2 image, column 0 unchanged, column 1 changed:
    CE = log 2; Dice(class, column) = 2I / card is 2*1/(1+2) on the
    matching column and 0 on the other, mean 1/3, loss 2/3 (a whole-image
    Dice would give 1/2)."""
    logits = torch.zeros(1, 2, 2, 2, dtype=torch.float64)
    labels = torch.tensor([[[0, 1], [0, 1]]])
    expected = math.log(2) + 1 - (2 * 1 / (3 + 1e-7) * 2 + 0 * 2) / 4
    # mmseg divides the CE sum by (4 pixels + float32 eps): relative 3e-8
    assert loss_of(tiny, logits, labels).item() == pytest.approx(
        expected, rel=1e-7)


def test_loss_and_gradients_equal_the_original_formula(tiny):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 2, 8, 6, generator=gen, dtype=torch.float64)
    labels = (torch.rand(2, 8, 6, generator=gen) > 0.6).long()
    ours = logits.clone().requires_grad_(True)
    theirs = logits.clone().requires_grad_(True)
    loss = loss_of(tiny, ours, labels)
    # the original's formula, restated
    flat = theirs.permute(0, 2, 3, 1).reshape(-1, 2)
    ce = -F.log_softmax(flat, 1).gather(1, labels.view(-1, 1)).mean()
    probs = theirs.softmax(1)
    one_hot = F.one_hot(labels, 2).permute(0, 3, 1, 2).double()
    inter = (probs * one_hot).sum((0, 2))
    card = (probs + one_hot).sum((0, 2))
    reference = ce + 1 - (2 * inter / (card + 1e-7)).mean()
    loss.backward()
    reference.backward()
    # mmseg divides the CE sum by (96 pixels + float32 eps): relative 1e-9
    assert loss.item() == pytest.approx(reference.item(), rel=1e-8)
    torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-8, atol=1e-15)


@pytest.mark.slow
def test_fast_path_logits_equal_eager(tiny, fast_backend):
    from mmcd.models.segmentors import FastChangeSegmentor
    fast = FastChangeSegmentor(tiny, backend=fast_backend[0], strict=True)
    # 0..1 inputs keep this untrained model's logits at the order of a
    # trained one's (float32 rounding grows with the logits)
    x = torch.rand(2, 6, 48, 32, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        expected = ChangeLogits(tiny)(x)
        exact = ChangeLogits(copy.deepcopy(tiny).double())(x.double())
        got = fast(x, mode='tensor')
    assert fast.runtime.startswith(fast_backend[1])
    assert got.shape == expected.shape == (2, 2, 48, 32)
    assert 1 < expected.abs().max() < 100
    # logits up to ~95: float32 rounding is ~1e-4 for eager PyTorch too, so
    # the fast graph is held to eager's own distance from float64
    eager_error = (expected.double() - exact).abs().max()
    assert (got.double() - exact).abs().max() < 1.5 * eager_error + 1e-6


def tool_options(data_root):
    opts = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
            'default_hooks.checkpoint.interval=1',
            'default_hooks.logger.interval=1',
            'train_dataloader.batch_size=2'] + TINY
    return opts + loader_options(data_root)


@pytest.mark.slow
def test_train_and_test_tools_end_to_end(tmp_path):
    data_root = str(tmp_path / 'toy')
    write_synthetic_cdd(data_root, num_train=4, num_val=2, num_test=2,
                        size=32, seed=3)
    work_dir = tmp_path / 'work'
    run_python([osp.join(REPO, 'tools', 'train.py'), C32_CDD, '--work-dir',
                work_dir, '--cfg-options'] + tool_options(data_root),
               cwd=str(tmp_path))
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    out = run_python([osp.join(REPO, 'tools', 'test.py'), C32_CDD, ckpt,
                      '--work-dir', tmp_path / 'test', '--cfg-options'] +
                     tool_options(data_root), cwd=str(tmp_path))
    assert 'F1' in out
    assert glob.glob(str(tmp_path / 'test' / '*' / '*.json'))
