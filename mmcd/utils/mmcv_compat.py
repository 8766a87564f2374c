"""Run MMSegmentation on mmcv-lite, which ships no compiled ops.

mmseg 1.2.2 imports ``mmcv.ops.point_sample`` and
``mmcv.ops.sigmoid_focal_loss`` at import time, unguarded, so with mmcv-lite
even ``import mmseg.datasets`` fails. When (and only when) mmcv's compiled
extension ``mmcv._ext`` is absent, :func:`install` puts a tiny pure-PyTorch
``mmcv.ops`` module in place that provides just these two names. With full mmcv
it does nothing.

It must run before any mmseg module is imported; ``import mmcd`` calls it
first thing, so every process that imports mmcd (data-loader workers
included) gets it.
"""
import importlib.util
import sys
import types
import warnings

import torch.nn.functional as F


def has_compiled_ops() -> bool:
    """Whether mmcv's compiled extension (full mmcv) is importable."""
    try:
        return importlib.util.find_spec('mmcv._ext') is not None
    except ImportError:
        return False


def point_sample(input, points, align_corners=False, **kwargs):
    """Sample ``input`` at normalised ``points`` in [0, 1] (as mmcv.ops)."""
    add_dim = points.dim() == 3
    if add_dim:
        points = points.unsqueeze(2)
    output = F.grid_sample(
        input, 2.0 * points - 1.0, align_corners=align_corners, **kwargs)
    return output.squeeze(3) if add_dim else output


def sigmoid_focal_loss(pred, target, gamma=2.0, alpha=0.25, weight=None,
                       reduction='mean'):
    """Sigmoid focal loss with mmcv.ops' signature (integer class targets)."""
    num_classes = pred.size(1)
    one_hot = F.one_hot(target.long().clamp(0, num_classes),
                        num_classes + 1)[:, :num_classes].type_as(pred)
    prob = pred.sigmoid()
    pt = (1 - prob) * one_hot + prob * (1 - one_hot)
    focal_weight = (alpha * one_hot + (1 - alpha) * (1 - one_hot)) * pt.pow(
        gamma)
    loss = F.binary_cross_entropy_with_logits(
        pred, one_hot, reduction='none') * focal_weight
    if weight is not None:
        loss = loss * weight.view(-1, 1)
    if reduction == 'mean':
        return loss.mean()
    if reduction == 'sum':
        return loss.sum()
    return loss


def _missing_op(name):
    if name.startswith('__'):
        raise AttributeError(name)
    # mmseg guards its optional ops with `except ModuleNotFoundError`
    raise ModuleNotFoundError(
        f'mmcv.ops.{name} needs mmcv with compiled ops; mmcv-lite is '
        'installed (see the README, "Full mmcv")', name=f'mmcv.ops.{name}')


def install() -> bool:
    """Provide the pure-PyTorch ``mmcv.ops`` stand-in if needed.

    Returns:
        bool: True if the stand-in is (now) in place, False with full mmcv.
    """
    if has_compiled_ops():
        return False
    existing = sys.modules.get('mmcv.ops')
    if existing is not None:
        return getattr(existing, '__mmcd_standin__', False)
    import mmcv
    ops = types.ModuleType('mmcv.ops')
    ops.__doc__ = 'mmcd stand-in for mmcv.ops (mmcv-lite: no compiled ops)'
    ops.__mmcd_standin__ = True
    ops.point_sample = point_sample
    ops.sigmoid_focal_loss = sigmoid_focal_loss
    ops.__getattr__ = _missing_op
    sys.modules['mmcv.ops'] = ops
    mmcv.ops = ops
    # mmcv.cnn warns on every import that mmcv-lite lacks deformable
    # attention; that is expected here and says nothing new.
    warnings.filterwarnings(
        'ignore', message='Fail to import ``MultiScaleDeformableAttention``')
    return True
