"""Write the change decision threshold into every saved checkpoint."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmcd.registry import HOOKS


def change_decision_threshold(model) -> float:
    """The probability above which ``model`` calls a pixel "changed".

    With a 2-class softmax head mmseg predicts the argmax, i.e.
    P(changed) > 0.5; with a 1-channel sigmoid head (``out_channels=1``) it
    predicts P(changed) > ``decode_head.threshold``.

    Args:
        model (nn.Module): A segmentor with a ``decode_head`` (a model
            wrapper is unwrapped).

    Returns:
        float: The decision threshold on P(changed).
    """
    if is_model_wrapper(model):
        model = model.module
    head = model.decode_head
    if head.out_channels == 1:
        return float(head.threshold)
    if head.out_channels == 2:
        return 0.5
    raise ValueError(
        'a change detector predicts 2 classes (unchanged, changed) or one '
        f'sigmoid channel; this decode head has {head.out_channels} output '
        'channels')


@HOOKS.register_module()
class ChangeCheckpointMetaHook(Hook):
    """Store the change decision threshold in each checkpoint's ``meta``.

    mmengine already writes the config text (``meta['cfg']``) and the
    training set's ``metainfo`` (``meta['dataset_meta']``: classes and
    palette); this hook adds ``meta['change_threshold']``, so that
    :class:`~mmcd.apis.ChangeInferencer` needs nothing but the config and
    the weights. mmcd's ``default_runtime.py`` enables it.

    Args:
        threshold (float, optional): The threshold to record. Defaults to
            None: the model's own decision rule
            (:func:`change_decision_threshold`), the one ``tools/test.py``
            evaluates.
    """

    priority = 'LOW'

    def __init__(self, threshold=None) -> None:
        if threshold is not None and not 0 < threshold < 1:
            raise ValueError(
                f'threshold must be in (0, 1); got {threshold!r}')
        self.threshold = threshold

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Add ``change_threshold`` to ``checkpoint['meta']``."""
        threshold = self.threshold
        if threshold is None:
            try:
                threshold = change_decision_threshold(runner.model)
            except (AttributeError, ValueError) as e:
                # never break training over metadata; the inferencer then
                # asks the model itself
                runner.logger.warning(
                    f'no change_threshold written to the checkpoint: {e}')
                return
        checkpoint.setdefault('meta', {})['change_threshold'] = threshold
