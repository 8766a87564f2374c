"""BIT_R18 (BITNeck, BITHead, TokenTransformerLayer on mmseg's ResNet-18):
parameter counts as the official code's, shapes, BIT's initialisation, the
fast path, the blur of its data loader, and the tools end to end."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image, ImageFilter

import mmcd  # noqa: F401
from cli_helpers import LOADERS, loader_options
from cli_helpers import run_python as run_tool
from mmcd.datasets.synthetic import write_synthetic_cdd
from mmcd.datasets.transforms import PairGaussianBlur
from mmcd.models.utils import count_parameters
from mmcd.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'bit', 'bit_r18_1xb8-200e_cdd-256x256.py')


def build(**neck):
    init_default_scope('mmcd')
    cfg = Config.fromfile(CONFIG)
    cfg.model.neck.update(neck)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


@pytest.fixture(scope='module')
def bit():
    return build()


def count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('dec_head_channels, neck', [(64, 703_136),
                                                     (8, 244_384)])
def test_counts_per_part_equal_the_official_code(dec_head_channels, neck):
    # BIT_CD's BASE_Transformer `base_transformer_pos_s4_dd8` (and _dedim8):
    # resnet conv1..layer3 2,782,784 (its unused layer4 and fc, 8,906,728
    # more, are not built), conv_pred + conv_a + pos_embedding + transformer
    # + transformer_decoder, classifier 9,858
    model = build(dec_head_channels=dec_head_channels)
    assert count(model.backbone) == 2_782_784
    assert count(model.neck) == neck
    assert count(model.decode_head) == 9_858
    assert count(model) == count_parameters(model) == 2_792_642 + neck


def test_shapes(bit):
    bit.eval()
    pair = torch.rand(2, 6, 32, 48) * 2 - 1
    with torch.no_grad():
        feats = bit.backbone(pair[:, :3])
        change = bit.extract_feat(pair)
        logits = bit.decode_head.forward(change)
    assert [tuple(f.shape) for f in feats] == [(2, 256, 4, 6)]  # stride 8
    assert [tuple(c.shape) for c in change] == [(2, 32, 8, 12)]
    assert logits.shape == (2, 2, 32, 48)


def test_change_feature_is_symmetric_in_the_dates(bit):
    bit.eval()
    pair = torch.rand(1, 6, 32, 32) * 2 - 1
    swapped = torch.cat(pair.chunk(2, 1)[::-1], 1)
    with torch.no_grad():
        a, b = bit.extract_feat(pair)[0], bit.extract_feat(swapped)[0]
    # |X_A - X_B|, the position embedding tells the dates apart
    assert (a - b).abs().max() > 1e-6
    assert (a >= 0).all()


def test_bit_initialisation(bit):
    # BIT's init_weights: conv / linear N(0, 0.02), biases 0, BatchNorm
    # weights N(1, 0.02) (also in the head: no ConvModule re-initialising)
    for name in ('backbone.layer2.0.conv1.weight', 'neck.conv_in.weight',
                 'neck.decoder.3.attn.to_k.weight',
                 'neck.encoder.0.ffn.layers.0.0.weight',
                 'decode_head.conv.weight', 'decode_head.conv_seg.weight'):
        w = bit.state_dict()[name]
        assert 0.018 < w.std() < 0.022, name
    for name in ('backbone.bn1.weight', 'decode_head.norm.weight'):
        w = bit.state_dict()[name]
        assert 0.005 < w.std() < 0.04 and abs(w.mean() - 1) < 0.02, name
    assert bit.decode_head.conv_seg.bias.abs().max() == 0
    assert bit.neck.conv_in.bias.abs().max() == 0
    assert 0.7 < bit.neck.pos_embedding.std() < 1.3  # N(0, 1)
    assert torch.equal(bit.neck.decoder[0].norm1.weight, torch.ones(32))


def test_imagenet_variant_loads_a_local_torchvision_file(tmp_path):
    # torchvision's resnet18 layout (conv1, bn1, layer1..4, fc): mmseg's
    # 4-stage ResNet-18 has the same names; layer4 and fc are left out
    init_default_scope('mmcd')
    full = MODELS.build(dict(type='ResNet', depth=18))
    state = {k: torch.randn(v.shape) if v.is_floating_point() else v
             for k, v in full.state_dict().items()}
    state.update({'fc.weight': torch.randn(1000, 512),
                  'fc.bias': torch.randn(1000)})
    path = tmp_path / 'resnet18-5c106cde.pth'
    torch.save(state, path)
    cfg = Config.fromfile(osp.join(
        REPO, 'configs', 'bit',
        'bit_r18-in1k-pre_1xb8-200e_levircd-256x256.py'))
    assert cfg.model.backbone.init_cfg.checkpoint.endswith(
        'resnet18-5c106cde.pth')
    cfg.model.backbone.init_cfg.checkpoint = str(path)
    model = MODELS.build(cfg.model)
    model.init_weights()
    loaded = model.backbone.state_dict()
    assert not any(k.startswith(('layer4', 'fc')) for k in loaded)
    for key, value in loaded.items():
        assert torch.equal(value, state[key]), key
    assert 0.018 < model.neck.conv_in.weight.std() < 0.022  # BIT's init


def test_dates_go_through_the_backbone_apart_in_training(bit):
    # BIT's forward_single per date: BatchNorm batch statistics per date
    bit.train()
    calls = []
    handle = bit.backbone.register_forward_hook(
        lambda m, i, o: calls.append(i[0].shape[0]))
    try:
        bit.extract_feat(torch.rand(2, 6, 32, 32))
    finally:
        handle.remove()
    assert calls == [2, 2]


def test_pair_gaussian_blur_is_pils_on_each_date():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (20, 24, 6), dtype=np.uint8)
    blur = PairGaussianBlur(radius_range=(0.5, 0.9))
    out = blur.transform(dict(img=img.copy()))
    radius = out['blur_radius']
    assert 0.5 <= radius <= 0.9
    for date in range(2):
        expected = np.asarray(
            Image.fromarray(img[..., 3 * date:3 * date + 3]).filter(
                ImageFilter.GaussianBlur(radius=radius)))
        np.testing.assert_array_equal(out['img'][..., 3 * date:3 * date + 3],
                                      expected)
    assert not np.array_equal(out['img'], img)
    kept = PairGaussianBlur(prob=0.).transform(dict(img=img.copy()))
    assert kept['blur_radius'] == 0 and np.array_equal(kept['img'], img)
    grey = PairGaussianBlur(radius_range=(1., 1.)).transform(
        dict(img=img[..., [0, 3]].copy()))['img']
    np.testing.assert_array_equal(grey[..., 1], np.asarray(
        Image.fromarray(img[..., 3]).filter(ImageFilter.GaussianBlur(1.))))
    with pytest.raises(ValueError, match='PairGaussianBlur.*float32'):
        blur.transform(dict(img=img.astype(np.float32)))


@pytest.mark.slow
def test_fast_path_logits_equal_eager(bit, fast_backend):
    from mmcd.models.segmentors import FastChangeSegmentor
    from mmcd.models.utils import ChangeLogits
    bit.eval()
    fast = FastChangeSegmentor(bit, backend=fast_backend[0], strict=True)
    for shape in [(1, 6, 32, 32), (2, 6, 40, 56)]:
        x = torch.rand(shape) * 255
        with torch.inference_mode():
            expected = ChangeLogits(bit)(x)
            got = fast(x, mode='tensor')
        assert fast.runtime.startswith(fast_backend[1])
        assert got.shape == expected.shape == (shape[0], 2, *shape[2:])
        assert (got - expected).abs().max() < 1e-4


@pytest.mark.slow
def test_train_and_test_end_to_end(tmp_path):
    data_root = str(tmp_path / 'toy')
    write_synthetic_cdd(data_root, num_train=2, num_val=1, num_test=2,
                        size=32, seed=5)
    opts = ['train_cfg.max_epochs=1', 'default_hooks.logger.interval=1',
            'train_dataloader.batch_size=2',
            # the 256x256 rescale-and-crop at the toy pairs' 32x32
            'train_dataloader.dataset.pipeline.4.scale=(32,32)',
            'train_dataloader.dataset.pipeline.5.crop_size=(32,32)'
            ] + loader_options(data_root, LOADERS)
    work_dir = str(tmp_path / 'work')
    run_tool([osp.join(REPO, 'tools', 'train.py'), CONFIG, '--work-dir',
              work_dir, '--cfg-options'] + opts, cwd=str(tmp_path))
    ckpt = glob.glob(osp.join(work_dir, 'best_F1_epoch_1.pth'))
    assert len(ckpt) == 1
    out = run_tool([osp.join(REPO, 'tools', 'test.py'), CONFIG, ckpt[0],
                    '--work-dir', str(tmp_path / 'test'), '--cfg-options'] +
                   opts, cwd=str(tmp_path))
    assert 'F1' in out and 'metrics computed with OpenVINO' in out
