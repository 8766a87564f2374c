"""TinyCD (AndreaCodegoni/Tiny_model_4_CD, models/change_classifier.py) in
mmcd: EfficientNet (B4, 4 stages) + MixingMaskAttentionNeck + UpMaskHead.

Counts are the original code's (285,128 in all), per part; the EfficientNet
layout and counts are torchvision's (read off torchvision 0.29 and written
here); pretrained weights load from a local file in torchvision's key
layout; the fast path gives the eager logits."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmcd  # noqa: F401
from cli_helpers import loader_options, run_python
from mmcd.datasets.synthetic import write_synthetic_cdd
from mmcd.datasets.transforms import PairBrightnessContrastBlur
from mmcd.models.utils import ChangeLogits
from mmcd.models.utils.mbconv import MBConv
from mmcd.models.utils.mixing_blocks import MixingBlock
from mmcd.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LEVIR = osp.join(REPO, 'configs', 'tinycd',
                 'tinycd_effb4_1xb8-100e_levircd-256x256.py')
CDD = osp.join(REPO, 'configs', 'tinycd',
               'tinycd_effb4_1xb8-100e_cdd-256x256.py')

#: torchvision 0.29 efficientnet_b4().features: parameters per child.
TORCHVISION_B4_STAGES = [1392, 4146, 66238, 197586, 1059898, 2306724,
                         8636228, 4470004, 806400]
#: Some of torchvision's efficientnet_b4() keys and shapes.
TORCHVISION_B4_KEYS = {
    'features.0.0.weight': (48, 3, 3, 3),
    'features.1.0.block.1.fc1.weight': (12, 48, 1, 1),
    'features.1.1.block.2.1.running_var': (24, ),
    'features.2.0.block.0.0.weight': (144, 24, 1, 1),
    'features.3.0.block.1.0.weight': (192, 1, 5, 5),
    'features.3.3.block.2.fc2.bias': (336, ),
    'features.4.0.block.0.0.weight': (336, 56, 1, 1),
}


def numel(module):
    return sum(p.numel() for p in module.parameters())


def build(config=LEVIR, pretrained=False):
    init_default_scope('mmcd')
    cfg = Config.fromfile(config)
    if not pretrained:
        cfg.model.backbone.init_cfg = None
    return MODELS.build(cfg.model)


def test_counts_per_part_equal_the_original():
    model = build()
    # the original's _backbone children (torchvision's features[0..3])
    assert [numel(s) for s in model.backbone] == TORCHVISION_B4_STAGES[:4]
    # _first_mix, _mixing_mask[0..1] and _mixing_mask[2]
    assert [numel(b) for b in model.neck.mask_blocks] == [162, 845, 1285]
    assert numel(model.neck.last_mixing) == 1065
    # _up and _classify (its last convolution is conv_seg)
    assert numel(model.decode_head.up_blocks) == 11734
    assert (numel(model.decode_head.classifier) +
            numel(model.decode_head.conv_seg)) == 675
    assert numel(model) == 285128


def test_full_efficientnet_b4_is_torchvisions():
    backbone = MODELS.build(dict(type='EfficientNet', arch='b4'))
    assert [numel(s) for s in backbone] == TORCHVISION_B4_STAGES
    state = backbone.state_dict()
    assert len(state) == 704  # torchvision's features keys
    for key, shape in TORCHVISION_B4_KEYS.items():
        assert tuple(state[key[len('features.'):]].shape) == shape
    # stochastic depth grows over all 32 blocks: 0.2 * index / 32
    probs = [m.stochastic_depth.drop_prob for m in backbone.modules()
             if isinstance(m, MBConv)]
    assert len(probs) == 32
    assert probs[:3] == [0.0, 0.2 / 32, 0.4 / 32]


def test_shapes_at_small_size():
    model = build().eval()
    x = torch.rand(2, 6, 32, 48) * 255
    with torch.no_grad():
        feats_a, _ = model.extract_date_feats(x)
        assert [tuple(f.shape) for f in feats_a] == [
            (2, 3, 32, 48), (2, 24, 16, 24), (2, 32, 8, 12), (2, 56, 4, 6)]
        fused = model.extract_feat(x)
        assert [tuple(f.shape) for f in fused] == [
            (2, 1, 32, 48), (2, 1, 16, 24), (2, 1, 8, 12), (2, 56, 4, 6)]
        assert ChangeLogits(model)(x).shape == (2, 1, 32, 48)


def test_mixing_block_pairs_channel_c_of_both_dates():
    torch.manual_seed(0)
    block = MixingBlock(4).eval()
    x, y = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    base = block(x, y)
    y2 = y.clone()
    y2[:, 2] += torch.randn(8, 8)
    changed = (block(x, y2) - base).abs().amax(dim=(0, 2, 3)) > 1e-6
    assert changed.tolist() == [False, False, True, False]


def test_stochastic_depth_is_per_sample_in_training_only():
    torch.manual_seed(0)
    block = MBConv(8, 8, 3, 1, 6, drop_path_rate=0.5)
    x = torch.randn(64, 8, 4, 4)
    block.eval()
    branch = block.block(x)
    assert torch.allclose(block(x), x + branch)
    block.train()
    out = block(x)
    branch = block.block(x)  # BN batch statistics: same batch, same values
    kept = torch.isclose(out, x + 2 * branch, atol=1e-6).flatten(1).all(1)
    dropped = torch.isclose(out, x).flatten(1).all(1)
    assert bool((kept | dropped).all()) and kept.any() and dropped.any()


def test_pretrained_torchvision_layout_loads_from_a_local_file(tmp_path):
    full = MODELS.build(dict(type='EfficientNet', arch='b4'))
    torch.manual_seed(1)
    for p in full.parameters():
        p.data.normal_()
    state = {f'features.{k}': v for k, v in full.state_dict().items()}
    state['classifier.1.weight'] = torch.zeros(1000, 1792)
    state['classifier.1.bias'] = torch.zeros(1000)
    ckpt = tmp_path / 'efficientnet_b4_fake.pth'
    torch.save(state, ckpt)
    backbone = MODELS.build(
        dict(type='EfficientNet', arch='b4', num_stages=4,
             init_cfg=dict(type='Pretrained', checkpoint=str(ckpt),
                           prefix='features.')))
    backbone.init_weights()
    loaded = backbone.state_dict()
    assert len(loaded) == 214
    for key, value in loaded.items():
        assert torch.equal(value, state['features.' + key]), key

    # without the prefix nothing fits, and the error says so
    bad = MODELS.build(
        dict(type='EfficientNet', arch='b4', num_stages=4,
             init_cfg=dict(type='Pretrained', checkpoint=str(ckpt))))
    with pytest.raises(KeyError, match="prefix='features.'"):
        bad.init_weights()
    # a missing key of a built stage is named
    del state['features.3.3.block.2.fc2.bias']
    torch.save(state, ckpt)
    with pytest.raises(KeyError, match=r'3\.3\.block\.2\.fc2\.bias'):
        MODELS.build(
            dict(type='EfficientNet', arch='b4', num_stages=4,
                 init_cfg=dict(type='Pretrained', checkpoint=str(ckpt),
                               prefix='features.'))).init_weights()


def test_loss_is_bce_on_the_single_logit():
    model = build().train()
    x = torch.rand(2, 6, 32, 32) * 255
    gt = (torch.rand(2, 32, 32) > 0.7).long()
    samples = []
    for g in gt:
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=g[None])
        s.set_metainfo(dict(img_shape=(32, 32), ori_shape=(32, 32),
                            pad_shape=(32, 32)))
        samples.append(s)
    data = model.data_preprocessor(dict(inputs=list(x), data_samples=samples),
                                   False)
    torch.manual_seed(0)
    losses = model.loss(data['inputs'], data['data_samples'])
    torch.manual_seed(0)  # the same stochastic-depth draws
    logits = model.decode_head.forward(model.extract_feat(data['inputs']))
    expected = torch.nn.functional.binary_cross_entropy(
        logits.sigmoid().squeeze(1), gt.float())
    assert torch.allclose(losses['decode.loss_ce'], expected, atol=1e-6)


def test_per_date_brightness_contrast_and_blur():
    np.random.seed(0)
    date = np.random.randint(0, 256, (16, 16, 3)).astype(np.uint8)
    img = np.concatenate([date, date], axis=2)
    out = PairBrightnessContrastBlur(prob=1., blur_prob=0.)(
        dict(img=img.copy()))['img']
    assert out.dtype == np.float32 and out.shape == img.shape
    for half in (out[..., :3], out[..., 3:]):  # an affine map of the input
        alpha, beta = np.polyfit(date.ravel(), half.ravel(), 1)
        assert 0.8 - 1e-4 <= alpha <= 1.2 + 1e-4
        assert abs(beta) <= 0.2 * 255 + 1e-2
        assert np.allclose(half, date * alpha + beta, atol=1e-3)
    assert not np.allclose(out[..., :3], out[..., 3:])  # drawn per date
    impulse = np.zeros((15, 15, 6), np.uint8)
    impulse[7, 7] = 255
    blurred = PairBrightnessContrastBlur(prob=0., blur_prob=1.)(
        dict(img=impulse))['img']
    for c in range(6):
        rows = np.nonzero(blurred[:, 7, c] > 0)[0]
        assert len(rows) in (3, 5)  # a 3x3 or 5x5 kernel
        assert abs(blurred[..., c].sum() - 255) < 1e-2


@pytest.mark.slow
def test_fast_path_logits_equal_eager(fast_backend):
    from mmcd.models.segmentors import FastChangeSegmentor
    eager = build().eval()
    fast = FastChangeSegmentor(eager, backend=fast_backend[0], strict=True)
    x = torch.rand(2, 6, 40, 48) * 255
    with torch.inference_mode():
        expected = ChangeLogits(eager)(x)
        got = fast(x, mode='tensor')
    assert fast.runtime.startswith(fast_backend[1])
    assert got.shape == expected.shape == (2, 1, 40, 48)
    assert (got - expected).abs().max() < 1e-4


@pytest.mark.slow
def test_train_and_test_end_to_end(tmp_path):
    data_root = str(tmp_path / 'toy')
    write_synthetic_cdd(data_root, num_train=4, num_val=2, num_test=2,
                        size=32, seed=3)
    opts = ['model.backbone.init_cfg=None', 'train_cfg.max_epochs=1',
            'train_dataloader.batch_size=2',
            'default_hooks.logger.interval=1'] + loader_options(data_root)
    work_dir = tmp_path / 'work'
    run_python([osp.join(REPO, 'tools', 'train.py'), CDD, '--work-dir',
                work_dir, '--cfg-options'] + opts, cwd=str(tmp_path))
    ckpt = work_dir / 'epoch_1.pth'
    assert ckpt.is_file()
    out = run_python([osp.join(REPO, 'tools', 'test.py'), CDD, ckpt,
                      '--work-dir', tmp_path / 'test', '--cfg-options'] +
                     opts, cwd=str(tmp_path))
    assert 'F1' in out
    assert glob.glob(str(tmp_path / 'test' / '*' / '*.json'))
