"""Version check and the mmcv-lite stand-in for mmcv.ops."""
import sys
import types

import pytest
import torch
import torch.nn.functional as F

import mmcd
from mmcd.utils import mmcv_compat, version_check


@pytest.mark.parametrize('module,version,package', [
    ('mmcv', '2.2.0', 'mmcv'),
    ('mmseg', '1.1.2', 'mmsegmentation'),
    ('mmengine', '0.9.1', 'mmengine'),
])
def test_unsupported_version_is_named_with_a_fix(monkeypatch, module,
                                                 version, package):
    fake = types.ModuleType(module)
    fake.__version__ = version
    monkeypatch.setitem(sys.modules, module, fake)
    with pytest.raises(ImportError) as err:
        version_check.check_versions()
    message = str(err.value)
    assert f'{package} {version} is installed' in message
    assert 'pip install -r requirements.txt' in message


def test_missing_package_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, 'mmseg', None)
    with pytest.raises(ImportError, match='mmsegmentation is not installed'):
        version_check.check_versions()


@pytest.mark.skipif(mmcv_compat.has_compiled_ops(),
                    reason='full mmcv installed: the stand-in is inert')
def test_standin_provides_what_mmseg_imports():
    assert mmcd.MMCV_OPS_STANDIN
    import mmcv.ops
    assert mmcv.ops.__mmcd_standin__
    from mmseg.models.utils import point_sample  # noqa: F401 imports fine
    from mmseg.models.decode_heads import cc_head
    assert cc_head.CrissCrossAttention is None  # guarded import, as upstream
    with pytest.raises(ModuleNotFoundError, match='compiled ops'):
        mmcv.ops.DeformConv2d


@pytest.mark.skipif(not mmcv_compat.has_compiled_ops(),
                    reason='needs full mmcv with compiled ops')
def test_standin_is_inert_with_full_mmcv():
    assert not mmcd.MMCV_OPS_STANDIN
    import mmcv.ops
    assert not getattr(mmcv.ops, '__mmcd_standin__', False)
    assert hasattr(mmcv.ops, 'DeformConv2d')


def test_point_sample_matches_grid_sample():
    torch.manual_seed(0)
    feats = torch.randn(2, 3, 8, 8)
    points = torch.rand(2, 5, 2)
    out = mmcv_compat.point_sample(feats, points, align_corners=False)
    ref = F.grid_sample(feats, 2 * points.unsqueeze(2) - 1,
                        align_corners=False).squeeze(3)
    assert out.shape == (2, 3, 5)
    assert torch.allclose(out, ref)
    # points on pixel centres reproduce the pixels
    centre = torch.tensor([[[(2 + 0.5) / 8, (5 + 0.5) / 8]]])
    value = mmcv_compat.point_sample(feats[:1], centre)
    assert torch.allclose(value[0, :, 0], feats[0, :, 5, 2])


def test_sigmoid_focal_loss_by_hand():
    pred = torch.tensor([[0.0, 2.0]])
    target = torch.tensor([1])
    loss = mmcv_compat.sigmoid_focal_loss(pred, target, gamma=2.0,
                                          alpha=0.25, reduction='none')
    p0, p1 = torch.sigmoid(torch.tensor(0.0)), torch.sigmoid(torch.tensor(2.))
    # class 0 is negative, class 1 positive
    expected0 = -(1 - 0.25) * p0**2 * torch.log(1 - p0)
    expected1 = -0.25 * (1 - p1)**2 * torch.log(p1)
    assert torch.allclose(loss, torch.stack([expected0, expected1])[None])


@pytest.mark.slow
def test_spawned_dataloader_workers_get_the_standin(tmp_path):
    """Workers started with `spawn` unpickle the mmcd dataset, whose import
    runs `import mmcd` (and so the stand-in) before any mmseg module."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from torch.utils.data import DataLoader

    from mmcd.datasets.synthetic import write_synthetic_cdd
    from mmcd.registry import DATASETS
    write_synthetic_cdd(str(tmp_path), num_train=2, num_val=0, num_test=0,
                        size=32)
    init_default_scope('mmcd')
    dataset = DATASETS.build(
        dict(type='CDDDataset', data_root=str(tmp_path),
             pipeline=[dict(type='LoadImagePairFromFile'),
                       dict(type='LoadChangeAnnotation'),
                       dict(type='PackSegInputs')]))
    loader = DataLoader(dataset, batch_size=2, num_workers=1,
                        multiprocessing_context='spawn',
                        collate_fn=pseudo_collate)
    batch = next(iter(loader))
    assert batch["inputs"][0].shape == (6, 32, 32)
