"""Running mmcd's command-line tools from tests on tiny datasets."""
import subprocess
import sys

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def run_python(args, cwd=None, env=None, ok=True):
    """Run ``python ARGS`` and return stdout + stderr; assert it succeeded
    (``ok=True``) or failed (``ok=False``), showing the output's tail."""
    result = subprocess.run([sys.executable] + [str(a) for a in args],
                            cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=900)
    output = result.stdout + result.stderr
    if ok:
        assert result.returncode == 0, output[-5000:]
    else:
        assert result.returncode != 0, output[-5000:]
    return output


def loader_options(data_root, loaders=LOADERS):
    """``--cfg-options`` pointing the loaders at ``data_root``, in-process
    (no worker processes)."""
    opts = []
    for loader in loaders:
        opts += [f'{loader}.dataset.data_root={data_root}',
                 f'{loader}.num_workers=0',
                 f'{loader}.persistent_workers=False']
    return opts
