"""Helpers shared by the analysis/export tool tests."""
import importlib.util
import os.path as osp
import subprocess
import sys

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmcd  # noqa: F401
from mmcd.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LSNET = osp.join(REPO, 'configs', 'lsnet',
                 'lsnet_difffpn_1xb12-100e_cdd-256x256.py')


def load_tool(*path):
    """Import a script under tools/ as a module."""
    file = osp.join(REPO, 'tools', *path)
    spec = importlib.util.spec_from_file_location(
        osp.splitext(path[-1])[0], file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_lsnet(config=LSNET, seed=0):
    """LSNet in eval mode with trained-looking BatchNorm and PReLU values
    (so that folding/fusing them is really exercised)."""
    init_default_scope('mmcd')
    torch.manual_seed(seed)
    model = MODELS.build(Config.fromfile(config).model)
    model.init_weights()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
        elif isinstance(m, torch.nn.PReLU):
            m.weight.data.uniform_(0, 0.5)
    return model.eval()


def save_checkpoint(model, path):
    torch.save(
        dict(state_dict=model.state_dict(),
             meta=dict(dataset_meta=dict(classes=('unchanged', 'changed'),
                                         palette=[[0, 0, 0],
                                                  [255, 255, 255]]))),
        path)
    return str(path)


def run_tool(args, cwd=None, ok=True):
    result = subprocess.run([sys.executable] + [str(a) for a in args],
                            cwd=cwd, capture_output=True, text=True,
                            timeout=900)
    output = result.stdout + result.stderr
    if ok:
        assert result.returncode == 0, output[-5000:]
    return result.returncode, output
