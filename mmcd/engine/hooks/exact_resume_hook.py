"""Resume training where it stopped: random states and schedule length."""
import copy
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop

from mmcd.registry import HOOKS

# what a parameter scheduler has done so far; everything else in its state
# is a setting, which the resumed run's config gives
_SCHEDULER_PROGRESS = ('base_values', 'last_step', '_global_step',
                       '_last_value')


def _settings(state: dict) -> dict:
    return {k: v for k, v in state.items() if k not in _SCHEDULER_PROGRESS}


def _step(schedulers, by_epoch: bool) -> None:
    for scheduler in schedulers:
        if scheduler.by_epoch == by_epoch:
            scheduler.step()


def _get_rng_state() -> dict:
    """The main process's Python, NumPy and torch random states, as plain
    lists and tensors (loadable with ``weights_only``)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = dict(
        python=[version, list(internal), gauss],
        numpy=[kind, keys.tolist(), int(pos), int(has_gauss),
               float(cached)],
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict, torch_only: bool = False) -> None:
    if not torch_only:
        version, internal, gauss = state['python']
        random.setstate((version, tuple(internal), gauss))
        kind, keys, pos, has_gauss, cached = state['numpy']
        np.random.set_state(
            (kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Make a resumed run continue as the uninterrupted run would.

    mmengine's ``--resume`` restores the weights, optimizer, schedulers,
    epoch/iteration and data order, but not

    - the random state of the main process (the augmentation draws of a
      loader without workers, dropout): this hook saves Python's, NumPy's
      and torch's states in ``checkpoint['meta']['rng_state']`` and sets
      them again on resume. Validation runs are made neutral to it (the
      state is put back after each), since a resumed run does not repeat
      the validation that followed the checkpoint.
    - the run's length: a scheduler's saved state carries the first run's
      ``end`` (and values derived from it, e.g. ``T_max``), which would
      replace the resumed run's. When the config's schedule differs from
      the checkpoint's, the schedulers are built from the config and
      stepped to the resumed epoch/iteration, so the learning rate is the
      one the uninterrupted run of the new length has there (one optimizer
      with a list of schedulers; an epoch-based loop steps iteration-based
      schedulers each iteration and epoch-based ones after each epoch).

    Loader workers are seeded by mmengine at their start from the seed;
    they start again each epoch unless ``persistent_workers``. A resumed
    epoch-based run with persistent workers is therefore not exact (their
    state after an epoch lives in processes no checkpoint holds; a warning
    says so). An iteration-based run replays the data it skips through the
    loader, which brings the augmentation state (main process or workers)
    to where it was; the torch state is set after that.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._resumed_state = None
        self._val_state = None
        self._schedule_changed = False

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Save the main process's random states."""
        checkpoint.setdefault('meta', {})['rng_state'] = _get_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """On resume: keep the random states for the first training step;
        note whether the schedule's settings changed since the checkpoint.
        """
        if not runner._resume:
            return
        self._resumed_state = checkpoint.get('meta', {}).get('rng_state')
        saved = checkpoint.get('param_schedulers')
        current = runner.param_schedulers
        if isinstance(saved, list) and isinstance(current, list):
            self._schedule_changed = [
                _settings(s.state_dict()) for s in current
            ] != [_settings(state) for state in saved]
        loader = runner.cfg.get('train_dataloader') or {}
        if (isinstance(runner.train_loop, EpochBasedTrainLoop)
                and loader.get('num_workers', 0) > 0
                and loader.get('persistent_workers', False)):
            print_log(
                'resuming an epoch-based run whose loader workers persist '
                'across epochs: their random state (the augmentation) cannot '
                'be restored, so the run will not be exactly the '
                'uninterrupted one; set train_dataloader.persistent_workers='
                'False for an exact resume', logger='current', level=30)

    def before_train(self, runner) -> None:
        """When the schedule changed (e.g. ``max_epochs``, hence ``end``),
        rebuild the schedulers from the config and step them to the resumed
        epoch/iteration: the values are the new schedule's there."""
        if not self._schedule_changed:
            return
        self._schedule_changed = False
        optimizer = runner.optim_wrapper.optimizer
        for group in optimizer.param_groups:
            for key in list(group):
                if key.startswith('initial_') and key[8:] in group:
                    group[key[8:]] = group[key]
        schedulers = runner.build_param_scheduler(
            copy.deepcopy(runner.cfg.param_scheduler))
        by_epoch = isinstance(runner.train_loop, EpochBasedTrainLoop)
        iters_per_epoch = len(runner.train_dataloader) if by_epoch else 0
        done = 0
        for _ in range(runner.epoch if by_epoch else 0):
            for _ in range(iters_per_epoch):
                _step(schedulers, by_epoch=False)
                done += 1
            _step(schedulers, by_epoch=True)
        for _ in range(runner.iter - done):
            _step(schedulers, by_epoch=False)
        runner.param_schedulers = schedulers
        print_log(
            'the parameter schedule differs from the checkpoint\'s (e.g. '
            'another max_epochs/max_iters and so `end`): the schedulers '
            'follow the config, stepped to epoch '
            f'{runner.epoch}, iteration {runner.iter}',
            logger='current')

    def before_train_epoch(self, runner) -> None:
        """Epoch-based: set the saved states before the epoch draws."""
        if self._resumed_state is not None and isinstance(
                runner.train_loop, EpochBasedTrainLoop):
            _set_rng_state(self._resumed_state)
            self._resumed_state = None

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        """Iteration-based: the loader has replayed the skipped data (and
        its Python/NumPy draws); set torch's state."""
        if self._resumed_state is not None:
            _set_rng_state(self._resumed_state, torch_only=True)
            self._resumed_state = None

    def before_val(self, runner) -> None:
        self._val_state = _get_rng_state()

    def after_val(self, runner) -> None:
        if self._val_state is not None:
            _set_rng_state(self._val_state)
            self._val_state = None
