"""Train (and validate) in the channels-last memory format."""
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmcd.registry import HOOKS


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Convert the model's 4-D parameters and buffers to the channels-last
    (NHWC) memory format before the run.

    Convolutions then run and return channels-last tensors (also when their
    input is not), so every later layer (BatchNorm, PReLU, concatenations)
    works on them too. The values are those of the default (NCHW) format up
    to float rounding; only the memory layout and the kernels change. On CPU
    this speeds up depthwise convolutions, their backward pass above all
    (oneDNN's channels-last kernels), which dominate LightSiamese-style
    backbones; see the README's *Speed* section for measured figures.

    ``tools/train.py`` adds this hook when the config sets
    ``channels_last = True`` (or with ``--channels-last``); it may also be
    listed in ``custom_hooks``. Checkpoints keep the usual state-dict keys and
    values and load into models of either format.

    Args:
        priority (int | str): Runs before the other ``before_run`` hooks.
            Defaults to 'VERY_HIGH'.
    """

    def __init__(self, priority='VERY_HIGH') -> None:
        self.priority = priority

    def before_run(self, runner) -> None:
        """Convert the (unwrapped) model in place."""
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        model.to(memory_format=torch.channels_last)
