"""Helpers shared by the analysis/export tool tests."""
import importlib.util
import os.path as osp
import subprocess
import sys
import types

import torch
import torch.nn as nn
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


def save_pickled_original_model(state_dict, path, class_name):
    """Write ``state_dict`` as a whole model pickled like an original
    repository's ``torch.save(model, f)``: a tree of modules of class
    ``class_name`` living in the original's ``models.Models`` (importable
    only while the file is written, as for a user without that code)."""
    pkg = types.ModuleType('models')
    mod = types.ModuleType('models.Models')
    node_cls = type(class_name, (nn.Module, ), {'__module__': 'models.Models'})
    setattr(mod, class_name, node_cls)
    sys.modules['models'], sys.modules['models.Models'] = pkg, mod
    try:
        root = node_cls()
        for key, value in state_dict.items():
            *names, leaf = key.split('.')
            node = root
            for name in names:
                if name not in node._modules:
                    node.add_module(name, node_cls())
                node = node._modules[name]
            if leaf in ('running_mean', 'running_var',
                        'num_batches_tracked'):
                node.register_buffer(leaf, value)
            else:
                node.register_parameter(leaf, nn.Parameter(value))
        torch.save(root, path)
    finally:
        sys.modules.pop('models.Models', None)
        sys.modules.pop('models', None)
