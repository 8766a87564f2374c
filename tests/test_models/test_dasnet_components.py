"""DASNet / DASNet-V2 parts: contrastive loss and distances against hand
values, the metric head's threshold and label resizing, the dilated
ResNet-50, parameter counts and ImageNet weights in torchvision's layout."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmcd  # noqa: F401
from mmcd.models import (DoubleMarginContrastiveLoss, DualAttentionEmbedding,
                         MetricHead, embedding_distance)
from mmcd.models.utils import count_parameters
from mmcd.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DASNET = osp.join(REPO, 'configs', 'dasnet',
                  'dasnet_r50-d8_1xb12-60e_cdd-256x256.py')
DASNETV2 = osp.join(REPO, 'configs', 'dasnet',
                    'dasnetv2_r50-d8_1xb4-80e_cdd-256x256.py')


@pytest.fixture(scope='module', autouse=True)
def mmcd_scope():
    init_default_scope('mmcd')


def loss_of(distance, label, **kwargs):
    loss = DoubleMarginContrastiveLoss(**kwargs)
    return loss(torch.tensor([distance]), torch.tensor([label])).item()


# ------------------------------------------------------------------ loss --
# d = 0.1, 0.5, 1.0, 2.5 with margins 0.3 / 2.2:
#   pull = max(d - 0.3, 0)^2 = 0, 0.04, 0.49, 4.84
#   push = max(2.2 - d, 0)^2 = 4.41, 2.89, 1.44, 0
D = [0.1, 0.5, 1.0, 2.5]


def test_loss_unweighted_hand_values():
    # y = 0, 0, 1, 1: pull, pull, push, push = 0 + 0.04 + 1.44 + 0 -> /4
    assert loss_of(D, [0, 0, 1, 1]) == pytest.approx(1.48 / 4, rel=1e-6)
    # loss_weight scales
    assert loss_of(D, [0, 0, 1, 1], loss_weight=2.0) == pytest.approx(
        2 * 1.48 / 4, rel=1e-6)


def test_loss_ignores_ignore_index():
    # second pixel ignored: (0 + 1.44 + 0) / 3 valid pixels
    assert loss_of(D, [0, 255, 1, 1]) == pytest.approx(0.48, rel=1e-6)
    # nothing valid: 0, and still differentiable
    d = torch.tensor([D], requires_grad=True)
    loss = DoubleMarginContrastiveLoss()(d, torch.full((1, 4), 255))
    loss.backward()
    assert loss.item() == 0 and d.grad is not None


def test_loss_fixed_class_weights():
    # w_u = 2, w_c = 5: (2 * 0.04 + 5 * 1.44) / 4 = 7.28 / 4
    assert loss_of(D, [0, 0, 1, 1], class_weight=(2, 5)) == pytest.approx(
        1.82, rel=1e-6)


def test_loss_batch_frequency_weights():
    # d = 0.1, 0.5, 1.0, 2.0, y = 0, 0, 0, 1: changed fraction f = 1/4,
    # w_u = 4/3, w_c = 4; pull of the unchanged 0, 0.04, 0.49, push of the
    # changed (2.2 - 2.0)^2 = 0.04:
    # (4/3 * 0.53 + 4 * 0.04) / 4 = 0.53 / 3 + 0.04 (mean per class, summed)
    assert loss_of([0.1, 0.5, 1.0, 2.0], [0, 0, 0, 1],
                   class_weight='batch') == pytest.approx(
                       0.53 / 3 + 0.04, rel=1e-6)
    # no changed pixel: plain mean of the unchanged terms
    assert loss_of([0.1, 0.5], [0, 0], class_weight='batch') == pytest.approx(
        0.04 / 2, rel=1e-6)


def test_loss_soft_label_and_cosine_margins():
    # y = 0.25 at d = 1.0: 0.75 * 0.49 + 0.25 * 1.44 = 0.7275
    assert loss_of([1.0], [0.25]) == pytest.approx(0.7275, rel=1e-6)
    # cosine margins 0.1 / 0.8: d = 0.05 unchanged -> 0; d = 0.5 changed ->
    # (0.8 - 0.5)^2 = 0.09; mean 0.045
    assert loss_of([0.05, 0.5], [0, 1], margin_unchanged=0.1,
                   margin_changed=0.8) == pytest.approx(0.045, rel=1e-6)


def test_loss_bad_options_are_named():
    with pytest.raises(ValueError, match='class_weight'):
        DoubleMarginContrastiveLoss(class_weight='median')
    with pytest.raises(ValueError, match='class_weight'):
        DoubleMarginContrastiveLoss(class_weight=(1, 2, 3))
    with pytest.raises(ValueError, match='margin_unchanged < margin_changed'):
        DoubleMarginContrastiveLoss(margin_unchanged=1.0, margin_changed=0.5)


# ------------------------------------------------------------- distance --
def unit_pair():
    """Two pixels of 2-d embeddings: equal (no change) and orthogonal."""
    a = torch.tensor([[1., 1.], [0., 0.]])[None]  # (1, C=2, H=1, W=2)
    b = torch.tensor([[1., 0.], [0., 1.]])[None]
    return a[:, :, None], b[:, :, None]


def test_embedding_distance_hand_values():
    a, b = unit_pair()
    l2 = embedding_distance(a, b, 'l2')
    assert l2.shape == (1, 1, 1, 2)
    # equal: sqrt(2 * eps^2); orthogonal unit vectors: sqrt(2) (1 + eps)
    assert l2[0, 0, 0, 0].item() == pytest.approx(math.sqrt(2) * 1e-6)
    assert l2[0, 0, 0, 1].item() == pytest.approx(math.sqrt(2) * (1 + 1e-6))
    cos = embedding_distance(a, b, 'cosine')
    assert cos[0, 0, 0].tolist() == pytest.approx([0.0, 1.0], abs=1e-7)
    with pytest.raises(ValueError, match='distance'):
        embedding_distance(a, b, 'l1')


def tiny_head(**kwargs):
    head = MetricHead(in_channels=(2, ), in_index=(0, ), input_names=('e', ),
                      **kwargs)
    return head.eval()


def test_head_logit_is_distance_minus_threshold():
    a, b = unit_pair()
    # embeddings are normalised first: scaling one date changes nothing
    x = torch.cat([3 * a, b], dim=1)
    metas = [dict(img_shape=(1, 2), pad_shape=(1, 2))]
    for distance, threshold, want in (('l2', 1.0, [-1.0, math.sqrt(2) - 1]),
                                      ('cosine', 0.5, [-0.5, 0.5])):
        head = tiny_head(distance=distance, distance_threshold=threshold)
        logit = head.predict([x], metas, None)
        assert logit[0, 0, 0].tolist() == pytest.approx(want, abs=1e-5)
        # mmseg's post-processing: sigmoid(logit) > head.threshold (0.5)
        changed = (logit.sigmoid() > head.threshold)[0, 0, 0].tolist()
        assert changed == [False, True]
    assert head.out_channels == 1 and not hasattr(head, 'conv_seg')
    with pytest.raises(ValueError, match='distance'):
        tiny_head(distance='euclid')


def test_head_resizes_labels_softly_and_keeps_ignore():
    head = tiny_head()
    # 2x2 -> 3x3, bilinear with align_corners=True: the corners are the
    # input pixels, the edge middles the mean of two, the centre of four;
    # any output touched by the ignored pixel (255) is ignored
    label = torch.tensor([[0., 1.], [1., 255.]])[None, None]
    out = head._resize_label(label, (3, 3))[0, 0]
    assert out.tolist() == [[0, 0.5, 1], [0.5, 255, 255], [1, 255, 255]]
    # 3x3 -> 2x2 picks the corners exactly
    label = torch.tensor([[0., 1., 0.], [1., 1., 1.], [255., 0., 1.]])
    out = head._resize_label(label[None, None], (2, 2))[0, 0]
    assert out.tolist() == [[0, 0], [255, 1]]


def test_head_losses_per_embedding_and_decoder_output_size():
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    head = MetricHead(in_channels=(8, 8, 8), decoder_channels=(4, 4))
    assert len(head.decoder) == 6  # 2 x (deconv, BN, LeakyReLU)
    sample = SegDataSample()
    sample.gt_sem_seg = PixelData(data=torch.randint(0, 2, (1, 12, 12)))
    inputs = [torch.randn(1, 16, 3, 3) for _ in range(3)]
    distances = head.forward(inputs)
    assert [tuple(d.shape) for d in distances] == [(1, 1, 12, 12)] * 3
    losses = head.loss(inputs, [sample], None)
    assert sorted(losses) == [
        'loss_contrastive_sa', 'loss_contrastive_sasc', 'loss_contrastive_sc'
    ]
    sasc_only = MetricHead(in_channels=(8, ), in_index=(2, ))
    assert list(sasc_only.loss(inputs, [sample], None)) == [
        'loss_contrastive_sasc'
    ]


# ------------------------------------------------- backbone and counts --
def build(config, **backbone):
    cfg = Config.fromfile(config)
    cfg.model.backbone.update(backbone)
    return MODELS.build(cfg.model)


@pytest.fixture(scope='module')
def dasnet():
    return build(DASNET, init_cfg=None)


def test_parameter_counts(dasnet):
    assert count_parameters(dasnet.backbone, exclude=()) == 23_508_032
    assert count_parameters(dasnet.neck, exclude=()) == 24_713_346
    assert count_parameters(dasnet.neck.pam, exclude=()) == 328_321
    assert count_parameters(dasnet.neck.cam, exclude=()) == 1
    assert count_parameters(dasnet.decode_head, exclude=()) == 0
    assert count_parameters(dasnet, exclude=()) == 48_221_378
    v2_head = MetricHead(decoder_channels=(256, 128, 32))
    assert count_parameters(v2_head, exclude=()) == 2_688_224
    no_attention = DualAttentionEmbedding(with_attention=False)
    assert count_parameters(no_attention, exclude=()) == 24_713_346 - 328_322


def test_backbone_dilation_pattern(dasnet):
    backbone = dasnet.backbone

    def pattern(layer):
        return [(b.conv2.stride[0], b.conv2.dilation[0]) for b in layer]

    assert backbone.conv1.kernel_size == (7, 7)  # no deep stem
    assert pattern(backbone.layer2)[0] == (2, 1)
    assert pattern(backbone.layer3) == [(1, 1)] + [(1, 2)] * 5
    assert pattern(backbone.layer4) == [(1, 2), (1, 4), (1, 4)]
    dasnet.eval()
    with torch.no_grad():
        feats = backbone(torch.zeros(1, 3, 32, 32))
    assert [tuple(f.shape) for f in feats] == [(1, 2048, 4, 4)]  # stride 8


def torchvision_resnet50_state_dict():
    """Random weights under torchvision's ResNet-50 key names and shapes."""
    gen = torch.Generator().manual_seed(0)
    state = {}

    def conv(name, cout, cin, k):
        state[f'{name}.weight'] = torch.randn(cout, cin, k, k, generator=gen)

    def bn(name, c):
        for key in ('weight', 'bias', 'running_mean'):
            state[f'{name}.{key}'] = torch.randn(c, generator=gen)
        state[f'{name}.running_var'] = torch.rand(c, generator=gen) + 0.5
        state[f'{name}.num_batches_tracked'] = torch.tensor(7)

    conv('conv1', 64, 3, 7)
    bn('bn1', 64)
    inplanes = 64
    for i, (blocks, planes) in enumerate(zip((3, 4, 6, 3),
                                             (64, 128, 256, 512))):
        for j in range(blocks):
            p = f'layer{i + 1}.{j}'
            conv(f'{p}.conv1', planes, inplanes, 1)
            bn(f'{p}.bn1', planes)
            conv(f'{p}.conv2', planes, planes, 3)
            bn(f'{p}.bn2', planes)
            conv(f'{p}.conv3', planes * 4, planes, 1)
            bn(f'{p}.bn3', planes * 4)
            if j == 0:
                conv(f'{p}.downsample.0', planes * 4, inplanes, 1)
                bn(f'{p}.downsample.1', planes * 4)
            inplanes = planes * 4
    state['fc.weight'] = torch.randn(1000, 2048, generator=gen)
    state['fc.bias'] = torch.randn(1000, generator=gen)
    return state


@pytest.mark.slow
def test_imagenet_weights_from_a_torchvision_file(tmp_path):
    state = torchvision_resnet50_state_dict()
    path = str(tmp_path / 'resnet50-19c8e357.pth')
    torch.save(state, path)
    model = build(DASNET, init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    loaded = model.backbone.state_dict()
    assert set(loaded) == set(state) - {'fc.weight', 'fc.bias'}
    for key, value in loaded.items():
        assert torch.equal(value, state[key]), key

    missing = build(DASNET, init_cfg=dict(
        type='Pretrained', checkpoint=str(tmp_path / 'nope.pth')))
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        missing.init_weights()


@pytest.mark.parametrize('init_cfg', [None, 'kaiming'])
def test_branch_convs_keep_pytorch_default_init(init_cfg):
    """The original's 3x3 conv-BN-ReLU layers use PyTorch's default init
    (kaiming-uniform with a = sqrt(5): std 1 / sqrt(3 fan_in)), not mmcv
    ConvModule's Kaiming normal (std sqrt(2 / fan_out)); an explicit
    init_cfg is still honoured."""
    torch.manual_seed(0)
    cfg = None if init_cfg is None else dict(
        type='Kaiming', layer='Conv2d', mode='fan_out', nonlinearity='relu',
        distribution='normal')
    neck = DualAttentionEmbedding(
        in_channels=256, channels=64, pam_channels=8, embed_channels=16,
        init_cfg=cfg)
    neck.init_weights()
    for name, fan_in in (('pam_in_conv', 256 * 9), ('cam_in_conv', 256 * 9),
                         ('pam_out_conv', 64 * 9), ('cam_out_conv', 64 * 9)):
        std = getattr(neck, name).conv.weight.std().item()
        torch_default, kaiming = 1 / math.sqrt(3 * fan_in), math.sqrt(2 / 576)
        expected = torch_default if init_cfg is None else kaiming
        assert std == pytest.approx(expected, rel=0.05), name
