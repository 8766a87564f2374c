"""SoftDiceLoss against values worked out by hand."""
import math

import pytest
import torch

import mmcd  # noqa: F401
from mmcd.models.losses import SoftDiceLoss
from mmcd.registry import MODELS

LN3 = math.log(3.)


def test_hand_computed_2x2():
    # pixel (0, 0): logits (0, ln 3) -> p = (1/4, 3/4); others p = (1/2, 1/2)
    logits = torch.zeros(1, 2, 2, 2)
    logits[0, 1, 0, 0] = LN3
    label = torch.tensor([[[0, 1], [1, 1]]])
    # class 0: I = 1/4,            card = (1/4 + 3/2) + 1 = 11/4
    # class 1: I = 3 * 1/2,        card = (3/4 + 3/2) + 3 = 21/4
    dice0 = 2 * (1 / 4) / (11 / 4)  # 2/11
    dice1 = 2 * (3 / 2) / (21 / 4)  # 4/7
    expected = 1 - (dice0 + dice1) / 2
    loss = SoftDiceLoss()(logits, label)
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(1 - (2 / 11 + 4 / 7) / 2)


def test_sums_over_batch_then_averages_classes():
    # two images with p = 1/2 everywhere: 8 pixels, labels 3x class 0
    logits = torch.zeros(2, 2, 2, 2)
    label = torch.tensor([[[0, 0], [1, 1]], [[0, 1], [1, 1]]])
    # class 0: I = 3/2, card = 4 + 3 = 7; class 1: I = 5/2, card = 4 + 5
    expected = 1 - (3 / 7 + 5 / 9) / 2
    loss = SoftDiceLoss(loss_weight=2.)(logits, label)
    assert loss.item() == pytest.approx(2 * expected, abs=1e-6)


def test_ignore_index_excluded():
    logits = torch.zeros(1, 2, 2, 2)
    logits[0, 1, 0, 0] = LN3
    label = torch.tensor([[[0, 1], [1, 255]]])
    # valid pixels: (0,0) p=(1/4,3/4) label 0; (0,1), (1,0) p=1/2 label 1
    # class 0: I = 1/4, card = (1/4 + 1) + 1 = 9/4
    # class 1: I = 1,   card = (3/4 + 1) + 2 = 15/4
    expected = 1 - (2 * (1 / 4) / (9 / 4) + 2 * 1 / (15 / 4)) / 2
    loss = SoftDiceLoss()(logits, label, ignore_index=255)
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    # the ignored pixel's logits do not matter
    logits[0, :, 1, 1] = torch.tensor([5., -3.])
    assert SoftDiceLoss()(logits, label).item() == pytest.approx(
        expected, abs=1e-6)


def test_weight_masks_pixels():
    logits = torch.randn(1, 2, 2, 2)
    label = torch.tensor([[[0, 1], [1, 0]]])
    weight = torch.tensor([[[1., 1.], [1., 0.]]])
    ignored = label.clone()
    ignored[0, 1, 1] = 255
    torch.testing.assert_close(
        SoftDiceLoss()(logits, label, weight=weight),
        SoftDiceLoss()(logits, ignored))


def test_per_column_reduction_of_the_original():
    # LSNet's code sums over batch and height only (per class and column)
    logits = torch.zeros(1, 2, 2, 2)
    logits[0, 1, 0, 0] = LN3
    label = torch.tensor([[[0, 1], [1, 1]]])
    # column 0: pixels (0,0) p=(1/4,3/4) label 0, (1,0) p=1/2 label 1
    #   class 0: I = 1/4, card = 3/4 + 1; class 1: I = 1/2, card = 5/4 + 1
    # column 1: p = 1/2, labels 1, 1
    #   class 0: I = 0, card = 1;          class 1: I = 1, card = 1 + 2
    dices = [2 * (1 / 4) / (7 / 4), 2 * (1 / 2) / (9 / 4), 0., 2 / 3]
    expected = 1 - sum(dices) / 4
    loss = SoftDiceLoss(per_column=True)(logits, label)
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_single_channel_sigmoid():
    logits = torch.zeros(1, 1, 2, 2)  # p(change) = 1/2
    label = torch.tensor([[[0, 1], [1, 1]]])
    expected = 1 - (2 * 0.5 / 3 + 2 * 1.5 / 5) / 2  # as the 2-class case
    assert SoftDiceLoss()(logits, label).item() == pytest.approx(
        expected, abs=1e-6)


def test_registry_name_and_gradient():
    loss = MODELS.build(dict(type='SoftDiceLoss'))
    assert loss.loss_name == 'loss_dice'
    assert MODELS.build(dict(type='SoftDiceLoss',
                             loss_name='loss_d2')).loss_name == 'loss_d2'
    logits = torch.randn(2, 2, 4, 4, requires_grad=True)
    label = torch.randint(0, 2, (2, 4, 4))
    loss(logits, label).backward()
    assert torch.isfinite(logits.grad).all()
