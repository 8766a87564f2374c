"""Config handling shared by ``tools/train.py`` and ``tools/test.py``."""
import os.path as osp

import torch
from mmengine.config import Config


def load_tool_config(config_path, cfg_options=None, work_dir=None,
                     launcher='none'):
    """Load a config the way mmcd's tools do.

    Args:
        config_path (str): The config file; a missing file is reported by
            name.
        cfg_options (dict, optional): ``--cfg-options`` overrides.
        work_dir (str, optional): ``--work-dir``; otherwise the config's
            ``work_dir`` or ``./work_dirs/<config name>``.
        launcher (str): ``none``, ``pytorch``, ``slurm`` or ``mpi``.

    Returns:
        Config: the config, with distributed training on CPU switched to the
        gloo backend (NCCL needs GPUs).
    """
    if not osp.isfile(config_path):
        raise FileNotFoundError(f'config file not found: {config_path}')
    cfg = Config.fromfile(config_path)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join(
            './work_dirs', osp.splitext(osp.basename(config_path))[0])
    if launcher != 'none' and not torch.cuda.is_available():
        env_cfg = cfg.setdefault('env_cfg', {})
        env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    return cfg
