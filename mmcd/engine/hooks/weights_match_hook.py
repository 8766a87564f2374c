"""Refuse a checkpoint whose weights do not fit the model (tools/test.py)."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmcd.registry import HOOKS
from mmcd.utils.checkpoint_safety import check_weights_match


@HOOKS.register_module()
class WeightsMatchHook(Hook):
    """Make the Runner's ``load_from`` strict.

    The Runner loads ``load_from`` non-strictly (mismatches are only
    logged), so a checkpoint of another model would be tested with partly
    random weights. This hook checks the loaded checkpoint against the model
    (a model wrapper's ``module``, where the Runner loads it) before the
    weights go in, and raises listing the missing, unexpected and mis-shaped
    keys (:func:`~mmcd.utils.checkpoint_safety.check_weights_match`; weights
    of auxiliary heads may be absent on either side). ``tools/test.py``
    adds it.

    Args:
        allow_partial (bool): Only log the mismatches (``tools/test.py
            --allow-partial-weights``). Defaults to False.
    """

    priority = 'VERY_HIGH'

    def __init__(self, allow_partial: bool = False) -> None:
        self.allow_partial = allow_partial

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Check ``checkpoint`` against the model it is loaded into."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        check_weights_match(
            model, checkpoint, getattr(runner.cfg, 'filename', None)
            or 'given', runner.cfg.get('load_from'), self.allow_partial)
