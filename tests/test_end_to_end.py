"""tools/train.py and tools/test.py end to end on a tiny synthetic dataset."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from mmengine.fileio import load
from PIL import Image

from cli_helpers import loader_options
from cli_helpers import run_python as run_tool
from mmcd.datasets.synthetic import write_synthetic_cdd

# trains or runs the tools end to end
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'configs', 'lsnet_cdd.py')


def tiny_options(data_root, max_epochs):
    opts = [f'train_cfg.max_epochs={max_epochs}', 'train_cfg.val_interval=1',
            'default_hooks.checkpoint.interval=1',
            'default_hooks.logger.interval=1']
    opts += loader_options(data_root)
    opts += ['train_dataloader.batch_size=2']
    return opts


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp('e2e')
    data_root = str(root / 'toy')
    write_synthetic_cdd(data_root, num_train=4, num_val=2, num_test=3,
                        size=32, seed=1)
    work_dir = str(root / 'work')
    out = run_tool([osp.join(REPO, 'tools', 'train.py'), CONFIG,
                    '--work-dir', work_dir, '--cfg-options'] +
                   tiny_options(data_root, 2), cwd=str(root))
    return root, data_root, work_dir, out


def scalars(work_dir):
    files = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert files, f'no scalars.json under {work_dir}'
    rows = []
    for f in files:
        with open(f) as fh:
            rows += [json.loads(line) for line in fh if line.strip()]
    return rows


def test_train_writes_checkpoints_and_change_metrics(trained):
    root, data_root, work_dir, out = trained
    assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))
    best = glob.glob(osp.join(work_dir, 'best_F1_epoch_*.pth'))
    assert len(best) == 1
    rows = scalars(work_dir)
    val_rows = [r for r in rows if 'F1' in r]
    assert len(val_rows) == 2
    for r in val_rows:
        for key in ('Precision', 'Recall', 'F1', 'IoU', 'OA'):
            assert 0.0 <= r[key] <= 1.0
        assert -1.0 <= r['Kappa'] <= 1.0  # below 0: worse than chance
    losses = [r['loss'] for r in rows if 'loss' in r]
    assert len(losses) == 4 and all(np.isfinite(losses))
    assert 'Failed to search registry' not in out
    # LSNet's configs train channels-last (tools/train.py adds the hook)
    assert 'ChannelsLastHook' in out


def test_test_tool_writes_masks_and_overlays(trained):
    root, data_root, work_dir, _ = trained
    ckpt = glob.glob(osp.join(work_dir, 'best_F1_epoch_*.pth'))[0]
    masks, show = root / 'masks', root / 'show'
    out = run_tool([osp.join(REPO, 'tools', 'test.py'), CONFIG, ckpt,
                    '--work-dir', str(root / 'test_work'), '--out',
                    str(masks), '--show-dir', str(show), '--cfg-options'] +
                   tiny_options(data_root, 2), cwd=str(root))
    assert 'F1' in out and 'Kappa' in out
    names = sorted(os.listdir(osp.join(data_root, 'test', 'A')))
    expected = sorted(osp.splitext(n)[0] + '.png' for n in names)
    assert sorted(os.listdir(masks)) == expected
    for name in expected:
        mask = np.array(Image.open(masks / name))
        assert mask.shape == (32, 32)
        assert set(np.unique(mask)) <= {0, 255}
        panel = np.array(Image.open(show / name))
        assert panel.shape == (32, 96, 3)
    # the metric json written by the test run has the paper metrics
    metric_files = glob.glob(str(root / 'test_work' / '*' / '*.json'))
    metrics = load(metric_files[0])
    assert {'Precision', 'Recall', 'F1', 'IoU', 'OA', 'Kappa'} <= set(metrics)


def test_resume_continues_from_checkpoint(trained):
    root, data_root, work_dir, _ = trained
    out = run_tool([osp.join(REPO, 'tools', 'train.py'), CONFIG,
                    '--work-dir', work_dir, '--resume',
                    osp.join(work_dir, 'epoch_2.pth'), '--cfg-options'] +
                   tiny_options(data_root, 3), cwd=str(root))
    assert 'resumed epoch: 2' in out
    assert osp.isfile(osp.join(work_dir, 'epoch_3.pth'))
    assert 'Epoch(train) [1]' not in out.replace('  ', ' ')


def test_missing_checkpoint_is_named(tmp_path):
    result = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'test.py'), CONFIG,
         str(tmp_path / 'nope.pth')], capture_output=True, text=True,
        timeout=300)
    assert result.returncode != 0
    assert 'nope.pth' in result.stderr


def run_dist(script, args, cwd, port):
    env = dict(os.environ, PORT=str(port), OMP_NUM_THREADS='1')
    result = subprocess.run(['bash', osp.join(REPO, 'tools', script)] + args,
                            cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    return output


def test_dist_test_gives_the_single_process_metrics(trained):
    root, data_root, work_dir, _ = trained
    ckpt = osp.join(work_dir, 'epoch_2.pth')
    opts = ['--cfg-options'] + tiny_options(data_root, 2)
    run_tool([osp.join(REPO, 'tools', 'test.py'), CONFIG, ckpt,
              '--work-dir', str(root / 'single')] + opts, cwd=str(root))
    run_dist('dist_test.sh', [CONFIG, ckpt, '2', '--work-dir',
                              str(root / 'dist')] + opts, str(root), 29731)
    single = load(glob.glob(str(root / 'single' / '*' / '*.json'))[0])
    dist = load(glob.glob(str(root / 'dist' / '*' / '*.json'))[0])
    for key in ('Precision', 'Recall', 'F1', 'IoU', 'OA', 'Kappa'):
        assert single[key] == dist[key], key


def test_dist_train_two_processes(tmp_path):
    data_root = str(tmp_path / 'toy')
    write_synthetic_cdd(data_root, num_train=4, num_val=2, num_test=0,
                        size=32, seed=2)
    work_dir = str(tmp_path / 'work')
    out = run_dist('dist_train.sh', [CONFIG, '2', '--work-dir', work_dir,
                                     '--cfg-options'] +
                   tiny_options(data_root, 1), str(tmp_path), 29732)
    assert 'Distributed training: True' in out
    assert 'GPU number: 2' in out  # mmengine's name for the world size
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))


def test_test_tool_never_replaces_labels_or_existing_files(trained):
    """--out at the test label folder (the masks would replace the ground
    truth) and --out/--show-dir with existing files are refused before the
    run; --overwrite replaces outputs, never inputs."""
    root, data_root, work_dir, _ = trained
    ckpt = osp.join(work_dir, 'epoch_2.pth')
    test_py = osp.join(REPO, 'tools', 'test.py')
    opts = ['--cfg-options'] + tiny_options(data_root, 2)
    label_dir = osp.join(data_root, 'test', 'OUT')
    labels = {n: open(osp.join(label_dir, n), 'rb').read()
              for n in os.listdir(label_dir)}
    out = run_tool([test_py, CONFIG, ckpt, '--work-dir',
                    str(root / 'refuse_work'), '--out', label_dir,
                    '--overwrite'] + opts, cwd=str(root), ok=False)
    assert 'is a folder of the test set' in out and label_dir in out
    assert {n: open(osp.join(label_dir, n), 'rb').read()
            for n in os.listdir(label_dir)} == labels
    stem = osp.splitext(sorted(os.listdir(osp.join(data_root, 'test',
                                                   'A')))[0])[0]
    existing = root / 'existing'
    existing.mkdir()
    kept = existing / (stem + '.png')
    kept.write_bytes(b'mine')
    out = run_tool([test_py, CONFIG, ckpt, '--work-dir',
                    str(root / 'refuse_work'), '--out', str(root / 'fresh'),
                    '--show-dir', str(existing)] + opts, cwd=str(root),
                   ok=False)
    assert '--show-dir' in out and 'already exist' in out and str(kept) in out
    assert 'Epoch(test)' not in out  # refused before the run
    assert kept.read_bytes() == b'mine'
    run_tool([test_py, CONFIG, ckpt, '--work-dir', str(root / 'refuse_work'),
              '--out', str(existing), '--overwrite'] + opts, cwd=str(root))
    assert np.array(Image.open(kept)).shape == (32, 32)


def test_format_only_on_an_unlabelled_test_folder(trained):
    root, data_root, work_dir, _ = trained
    unlabelled = root / 'unlabelled'
    for folder in ('A', 'B'):
        (unlabelled / 'test' / folder).mkdir(parents=True)
        for name in os.listdir(osp.join(data_root, 'test', folder)):
            os.symlink(osp.join(data_root, 'test', folder, name),
                       unlabelled / 'test' / folder / name)
    opts = ['--cfg-options'] + tiny_options(data_root, 2) + [
        f'test_dataloader.dataset.data_root={unlabelled}']
    out_dir = root / 'unlabelled_masks'
    out = run_tool([osp.join(REPO, 'tools', 'test.py'), CONFIG,
                    osp.join(work_dir, 'epoch_2.pth'), '--work-dir',
                    str(root / 'format_work'), '--format-only', '--out',
                    str(out_dir)] + opts, cwd=str(root))
    assert 'Kappa' not in out
    names = sorted(os.listdir(unlabelled / 'test' / 'A'))
    assert sorted(os.listdir(out_dir)) == sorted(
        osp.splitext(n)[0] + '.png' for n in names)
    for name in os.listdir(out_dir):
        mask = np.array(Image.open(out_dir / name))
        assert mask.shape == (32, 32) and set(np.unique(mask)) <= {0, 255}
