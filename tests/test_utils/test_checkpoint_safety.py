"""mmengine checkpoints load with weights_only on torch >= 2.6; payloads do
not."""
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


def make_runner(work_dir, max_iters=4, default_hooks=None, **kwargs):
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
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=default_hooks or dict(
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


def test_resume_never_runs_config_text(tmp_path):
    """mmengine's resume runs a legacy meta['config'] as Python."""
    runner = make_runner(tmp_path / 'a')
    runner.train()
    marker = tmp_path / 'PWNED'
    state = torch.load(tmp_path / 'a' / 'iter_4.pth')
    state['meta']['config'] = (
        f"_x = __import__('os').system('touch {marker}')\n")
    torch.save(state, tmp_path / 'evil.pth')
    resumed = make_runner(tmp_path / 'b', resume=True,
                          load_from=str(tmp_path / 'evil.pth'))
    resumed.train()
    assert resumed.iter == 4
    assert not marker.exists()


KILLED_WHILE_SAVING = '''
import builtins, os, signal, sys
sys.path.insert(0, {here!r})
from test_checkpoint_safety import make_runner
from mmcd.utils.tool_setup import write_checkpoints_atomically

real_open = builtins.open


class DiesMidWrite:
    """A file whose first write stops halfway: the process is killed."""

    def __init__(self, f):
        self.f = f

    def write(self, data):
        self.f.write(data[:len(data) // 2])
        self.f.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.f.close()

    def __getattr__(self, name):
        return getattr(self.f, name)


def dying_open(file, mode='r', *args, **kwargs):
    f = real_open(file, mode, *args, **kwargs)
    if 'wb' in mode and 'iter_8' in os.fspath(file):
        return DiesMidWrite(f)
    return f


builtins.open = dying_open
cfg = dict(default_hooks=dict(checkpoint=dict(
    type='CheckpointHook', interval=4, by_epoch=False)))
write_checkpoints_atomically(cfg)
runner = make_runner({work_dir!r}, max_iters=8, **cfg)
runner.train()
'''


def test_a_run_killed_while_saving_leaves_no_truncated_checkpoint(tmp_path):
    import subprocess
    import sys
    work_dir = tmp_path / 'work'
    script = tmp_path / 'train.py'
    script.write_text(KILLED_WHILE_SAVING.format(
        here=os.path.dirname(os.path.abspath(__file__)),
        work_dir=str(work_dir)))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == -9, result.stderr[-3000:]
    names = os.listdir(work_dir)
    assert 'iter_4.pth' in names and 'iter_8.pth' not in names
    # what is left of the killed write is a hidden partial file
    assert all(n.startswith('.iter_8.') and '.partial' in n
               for n in names if 'iter_8' in n)
    latest = (work_dir / 'last_checkpoint').read_text().strip()
    assert latest.endswith('iter_4.pth')
    assert 'state_dict' in torch.load(latest, map_location='cpu')


def test_atomic_backend_leaves_nothing_on_a_failed_write(tmp_path,
                                                         monkeypatch):
    from mmcd.utils import atomic_io
    target = tmp_path / 'ckpt' / 'epoch_2.pth'
    backend = atomic_io.AtomicLocalBackend()
    backend.put(b'old', target)
    backend.put_text('name', tmp_path / 'ckpt' / 'last_checkpoint')

    def disk_full(fd):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(atomic_io.os, 'fsync', disk_full)
    with pytest.raises(OSError, match='No space'):
        backend.put(b'new' * 1000, target)
    assert target.read_bytes() == b'old'
    assert sorted(os.listdir(tmp_path / 'ckpt')) == ['epoch_2.pth',
                                                     'last_checkpoint']
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)
