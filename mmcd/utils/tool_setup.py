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
        Config: the config. Without CUDA, a distributed launch uses gloo and
        CPU DistributedDataParallel.
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
        # mmengine's default DDP wrapper pins device_ids=[LOCAL_RANK] (GPUs)
        if cfg.get('model_wrapper_cfg') is None:
            cfg.model_wrapper_cfg = dict(
                type='MMDistributedDataParallel',
                device_ids=None,
                broadcast_buffers=False,
                find_unused_parameters=cfg.get('find_unused_parameters',
                                               False))
        if launcher == 'pytorch':
            _init_cpu_process_group()
    return cfg


def write_checkpoints_atomically(cfg) -> None:
    """Let the config's ``CheckpointHook`` write each checkpoint to a
    temporary file renamed when complete (the ``atomic_local`` file backend
    of :mod:`mmcd.utils.atomic_io`), unless the hook names a storage backend
    of its own.

    Args:
        cfg (Config): The training config; changed in place.
    """
    hook = (cfg.get('default_hooks') or {}).get('checkpoint')
    if not hook or hook.get('backend_args') or hook.get('file_client_args'):
        return
    if '://' in str(hook.get('out_dir') or ''):  # a remote store
        return
    hook['backend_args'] = dict(backend='atomic_local')


def _init_cpu_process_group():
    """Join torchrun's process group with gloo on a machine without CUDA.

    mmengine 0.10's ``init_dist('pytorch')`` calls ``torch.cuda.set_device``,
    which fails on CPU-only torch; once a group exists, the Runner uses it.
    """
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
