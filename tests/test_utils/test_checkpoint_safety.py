"""mmengine checkpoints load on torch >= 2.6 with weights_only, payloads do not."""
import os
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import CheckpointLoader, Runner

import mmcd  # noqa: F401


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((out.squeeze(1) - labels)**2).mean())
        return out


def toy_dataset(n=8):
    return [dict(inputs=torch.randn(2), labels=torch.tensor(1.0))
            for _ in range(n)]


def make_runner(work_dir, **kwargs):
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=toy_dataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=4),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=4,
                            by_epoch=False)),
        default_scope='mmengine',
        experiment_name=os.path.basename(str(work_dir)) + str(id(kwargs)),
        **kwargs)


def test_mmengine_checkpoint_loads_weights_only(tmp_path):
    runner = make_runner(tmp_path / 'a')
    runner.train()
    ckpt = tmp_path / 'a' / 'iter_4.pth'
    assert ckpt.is_file()
    # torch's own default (weights_only=True on torch >= 2.6)
    loaded = torch.load(ckpt, map_location='cpu', weights_only=True)
    assert 'message_hub' in loaded and 'state_dict' in loaded
    # and mmengine's resume path (calls torch.load without weights_only)
    runner2 = make_runner(tmp_path / 'b', resume=True, load_from=str(ckpt))
    runner2.train()
    assert runner2.iter == 4
    for key, value in runner.model.state_dict().items():
        assert torch.equal(value, runner2.model.state_dict()[key])


class Payload:
    marker = None

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def test_malicious_checkpoint_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    payload = Payload()
    payload.marker = str(marker)
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': payload}, path)
    with pytest.raises(pickle.UnpicklingError):
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, map_location='cpu')
    assert not marker.exists()


class GetattrPayload:
    """Walks from an allow-listed class towards eval through getattr."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer
        return (getattr, (HistoryBuffer, '__init__'))


def test_getattr_is_limited_to_history_buffer_methods(tmp_path):
    path = tmp_path / 'walk.pth'
    torch.save({'meta': GetattrPayload()}, path)
    with pytest.raises(pickle.UnpicklingError, match='getattr'):
        torch.load(path, map_location='cpu')
