"""Train with the network compiled by ``torch.compile``."""
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmcd.registry import HOOKS


@HOOKS.register_module()
class CompileNetworkHook(Hook):
    """Compile the segmentor's network with ``torch.compile`` before the run.

    ``extract_feat`` (backbone and neck) and the decode head's ``forward``
    are replaced, on the model instance, by their compiled versions; the
    data preprocessor, the losses, the optimiser step and the inference
    wrappers stay eager, so graph breaks stay out of the compiled parts.
    Unlike mmengine's ``compile=True`` (which compiles all of
    ``train_step``), this is what ``train_vs_original.py --compile`` times.
    Compilation happens at the first step of each input shape (and mode:
    validation compiles again); Inductor's on-disk cache makes later runs
    start fast. The weights, state-dict keys and checkpoints are those of
    the eager model.

    ``tools/train.py --compile`` adds this hook; it may also be listed in
    ``custom_hooks``.

    Args:
        backend (str): ``torch.compile`` backend. Defaults to 'inductor'.
        priority (int | str): Runs after :class:`ChannelsLastHook`.
            Defaults to 'HIGH'.
    """

    def __init__(self, backend: str = 'inductor', priority='HIGH') -> None:
        self.backend = backend
        self.priority = priority

    def before_run(self, runner) -> None:
        """Compile the (unwrapped) model's network in place."""
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        compile_network(model, self.backend)


def compile_network(model, backend: str = 'inductor') -> None:
    """Replace ``model.extract_feat`` and ``model.decode_head.forward``, on
    the instance, by their ``torch.compile`` versions (what
    :class:`CompileNetworkHook` does before a run)."""
    model.extract_feat = torch.compile(model.extract_feat, backend=backend)
    head = model.decode_head
    head.forward = torch.compile(head.forward, backend=backend)
