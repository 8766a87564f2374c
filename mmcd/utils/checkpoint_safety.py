"""Read checkpoints without running code from them.

torch >= 2.6 unpickles checkpoints with ``weights_only=True`` by default, which
refuses the few non-tensor objects mmengine writes into its checkpoints
(message-hub ``HistoryBuffer`` s, numpy scalars and arrays). Instead of
switching ``weights_only`` off (which lets any checkpoint file run code on
load), mmcd allow-lists exactly those types, so a checkpoint carrying any other
global, such as a malicious ``__reduce__`` payload, is still refused.

Beyond unpickling:

- :func:`load_from_local` (mmengine's local checkpoint loader, replaced when
  mmcd is imported) names the file and says what is wrong with it (truncated,
  not a checkpoint, refused objects), and drops a legacy ``meta['config']``,
  which mmengine's ``Runner.resume`` would run as Python;
- :func:`config_from_checkpoint` reads the config text a checkpoint carries
  (``meta['cfg']``) as plain data, never executing it;
- :func:`check_weights_match` makes loading weights for testing and
  inference strict: missing, unexpected and mis-shaped keys are an error.
"""
import ast
import os.path as osp
import pickle
import re
import sys
import zipfile

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader

from . import atomic_io  # noqa: F401  (registers the 'atomic_local' backend)


def _numpy_globals():
    """numpy types that mmengine checkpoints pickle (numpy 1.x and 2.x)."""
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [type(np.dtype(t)) for t in (
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
        np.uint16, np.uint32, np.uint64, np.float16, np.float32, np.float64)]
    return [_reconstruct, scalar, np.ndarray, np.dtype] + dtype_classes


def history_buffer_getattr(obj, name):
    """The only ``getattr`` an mmengine checkpoint may perform on load.

    ``HistoryBuffer`` pickles its statistics methods (``min``, ``max``,
    ``mean``, ``current``, ...) as ``getattr(HistoryBuffer, 'min')``.
    Allowing the builtin ``getattr`` itself would let a crafted file walk
    from any allowed class to ``eval``; this stand-in resolves only public
    methods of ``HistoryBuffer``.
    """
    from mmengine.logging import HistoryBuffer
    if (obj is HistoryBuffer and isinstance(name, str)
            and not name.startswith('_')
            and callable(getattr(HistoryBuffer, name, None))):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) in a checkpoint: only '
        'HistoryBuffer statistics methods are allowed')


def mmengine_safe_globals():
    """Everything an mmengine 0.10 checkpoint needs beyond tensors."""
    from mmengine.logging import HistoryBuffer
    return [HistoryBuffer, (history_buffer_getattr, 'builtins.getattr')
            ] + _numpy_globals()


def allow_mmengine_checkpoints() -> None:
    """Allow-list mmengine's checkpoint contents for ``weights_only`` loads
    and make :func:`load_from_local` mmengine's loader of local files."""
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:  # torch >= 2.4
        add(mmengine_safe_globals())
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local,
                                     force=True)


class CheckpointRefusedError(pickle.UnpicklingError):
    """A checkpoint holds Python objects that could run code on load."""


def _describe_bad_checkpoint(filename: str, error: Exception) -> Exception:
    """The error to raise for a local file ``torch.load`` could not read."""
    size = osp.getsize(filename)
    text = str(error)
    if size == 0:
        return ValueError(f'checkpoint {filename} is empty (0 bytes)')
    if 'Weights only load failed' in text and 'GLOBAL' in text:
        found = re.search(r'GLOBAL ([\w.]+)', text)
        what = found.group(1) if found else 'a Python object'
        return CheckpointRefusedError(
            f'checkpoint {filename} refused: besides tensors it holds '
            f'{what}, which is neither a tensor nor mmengine checkpoint '
            'data, and unpickling it could run code. mmcd loads checkpoints '
            'written by tools/train.py (or mmengine) and files converted '
            'with tools/model_converters/; a whole pickled model must be '
            're-saved as its state_dict() by whoever trusts it')
    with open(filename, 'rb') as f:
        head = f.read(8)
    if zipfile.is_zipfile(filename) or head.startswith(b'PK\x03\x04'):
        first = text.split('. ')[0] if text else type(error).__name__
        return ValueError(
            f'checkpoint {filename} ({size} bytes) is truncated or corrupt: '
            f'torch cannot read it as a zip archive ({first}). Copy or '
            'download it again, or use an earlier checkpoint')
    return ValueError(
        f'{filename} is not a PyTorch checkpoint ({size} bytes, starting '
        f'with {head!r}): torch.save writes a zip archive (starting with '
        "b'PK') of tensors")


def load_from_local(filename: str, map_location=None) -> dict:
    """mmengine's loader of local checkpoints, with errors naming the file.

    Loads with torch's default (``weights_only`` on torch >= 2.6, with
    mmengine's data allow-listed). A file torch cannot read raises a
    ``ValueError`` saying whether it is empty, truncated or not a checkpoint;
    one holding other Python objects raises :class:`CheckpointRefusedError`
    (a ``pickle.UnpicklingError``) naming the object. A legacy
    ``meta['config']`` (config text that mmengine's ``Runner.resume`` would
    run as Python) is dropped, with a warning.

    Args:
        filename (str): The checkpoint file.
        map_location: As for ``torch.load``.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint not found: {filename}')
    try:
        checkpoint = torch.load(filename, map_location=map_location)
    except (RuntimeError, pickle.UnpicklingError, EOFError, KeyError,
            ValueError, UnicodeDecodeError, OSError) as e:
        if isinstance(e, OSError) and type(e) is not OSError:
            raise  # permissions and the like: not about the content
        raise _describe_bad_checkpoint(filename, e) from None
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if isinstance(meta, dict) and 'config' in meta:
        meta.pop('config')
        print_log(
            f"ignoring meta['config'] of {filename}: mmengine's resume "
            'would run that config text as Python', logger='current',
            level=30)
    return checkpoint


# -- the config a checkpoint carries ----------------------------------------
class UnsafeConfigError(ValueError):
    """A checkpoint's config text is not plain data."""


def _literal(node):
    """The value of a plain-data expression: constants, lists, tuples,
    ``{...}`` and ``dict(key=...)`` (mmengine's ``pretty_text``)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_literal(k): _literal(v)
                for k, v in zip(node.keys, node.values)}
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == 'dict' and not node.args
            and all(kw.arg is not None for kw in node.keywords)):
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    if (isinstance(node, ast.UnaryOp)
            and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant)
            and type(node.operand.value) in (int, float)):
        value = node.operand.value
        return -value if isinstance(node.op, ast.USub) else value
    raise UnsafeConfigError(f'line {node.lineno}: {ast.unparse(node)[:200]}')


def parse_config_data(text: str) -> dict:
    """Parse config text of ``name = <plain data>`` lines without running
    it; anything else (a call, an import, a name) raises
    :class:`UnsafeConfigError` naming the line."""
    tree = ast.parse(text)
    data = {}
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)):
            raise UnsafeConfigError(
                f'line {stmt.lineno}: {ast.unparse(stmt)[:200]}')
        data[stmt.targets[0].id] = _literal(stmt.value)
    return {k: v for k, v in data.items() if not k.startswith('__')}


def config_from_checkpoint(checkpoint: dict, filename: str,
                           trust: bool = False) -> Config:
    """The config stored in a checkpoint, read as data, never run.

    mmengine stores the config as Python text (``meta['cfg']``, and
    ``message_hub['runtime_info']['cfg']``), which mmengine's
    ``BaseInferencer`` would execute (``Config.fromstring(..., '.py')``). Here
    the text is parsed as plain data (what mmengine's ``pretty_text`` is);
    text with anything else, a ``_base_`` or ``custom_imports`` of modules
    not imported yet is refused, asking for the config file.

    Args:
        checkpoint (dict): The loaded checkpoint.
        filename (str): Its file, for the messages.
        trust (bool): Execute the text as mmengine does (only for a
            checkpoint from a trusted source). Defaults to False.

    Returns:
        Config: The config.
    """
    meta = checkpoint.get('meta') or {}
    runtime_info = (checkpoint.get('message_hub') or {}).get(
        'runtime_info') or {}
    text = meta.get('cfg', runtime_info.get('cfg'))
    if not isinstance(text, str):
        raise ValueError(f'checkpoint {filename} carries no config: pass '
                         'the config file the model was trained with')
    if trust:
        return Config.fromstring(text, file_format='.py')
    ask = ('Pass the config file the model was trained with instead (or, '
           'only for a checkpoint from a source you trust, '
           'trust_checkpoint_config=True to run its config text)')
    try:
        data = parse_config_data(text)
    except (SyntaxError, UnsafeConfigError, RecursionError) as e:
        raise UnsafeConfigError(
            f'the config stored in checkpoint {filename} is not plain data '
            f'({e}); mmcd does not run code from a checkpoint. {ask}'
        ) from None
    if '_base_' in data:
        raise UnsafeConfigError(
            f'the config stored in checkpoint {filename} names _base_ files '
            f'to read. {ask}')
    imports = (data.get('custom_imports') or {}).get('imports') or []
    imports = [imports] if isinstance(imports, str) else imports
    missing = [m for m in imports if m not in sys.modules]
    if missing:
        raise UnsafeConfigError(
            f'the config stored in checkpoint {filename} imports '
            f'{missing} (custom_imports), which mmcd does not import from a '
            f'checkpoint: import them first. {ask}')
    return Config(data)


# -- strict weight loading ---------------------------------------------------
#: Heads used in training only: their weights may be absent on one side.
TRAINING_ONLY_PREFIXES = ('auxiliary_head.', )


def check_weights_match(model, checkpoint: dict, config: str,
                        checkpoint_name: str,
                        allow_partial: bool = False) -> None:
    """Refuse weights that do not fit ``model`` key for key, shape for shape.

    Keys of auxiliary heads (``auxiliary_head.``, used in training only)
    absent from the model or from the checkpoint are allowed, and logged.

    Args:
        model (nn.Module): The model (not a wrapper).
        checkpoint (dict): The loaded checkpoint (its ``state_dict``, keys
            with a ``module.`` prefix as mmengine reads them).
        config (str): The config, named in the message.
        checkpoint_name (str): The checkpoint, named in the message.
        allow_partial (bool): Log the mismatches as a warning instead of
            raising. Defaults to False.

    Raises:
        ValueError: Listing the missing, unexpected and mis-shaped keys.
    """
    state = checkpoint.get('state_dict', checkpoint)
    state = {re.sub(r'^module\.', '', k): v for k, v in state.items()
             if k != '_metadata'}
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(
        f'{k} (checkpoint {tuple(state[k].shape)}, model '
        f'{tuple(own[k].shape)})' for k in own
        if k in state and hasattr(state[k], 'shape')
        and tuple(state[k].shape) != tuple(own[k].shape))

    def training_only(key):
        return key.startswith(TRAINING_ONLY_PREFIXES)

    skipped = [k for k in missing + unexpected if training_only(k)]
    if skipped:
        print_log(
            f'{len(skipped)} weights of auxiliary heads (used in training '
            f'only) are in only one of checkpoint {checkpoint_name} and '
            f'the model of {config}; not loaded', logger='current')
    missing = [k for k in missing if not training_only(k)]
    unexpected = [k for k in unexpected if not training_only(k)]
    if not (missing or unexpected or shapes):
        return

    def listing(keys):
        return ', '.join(keys[:8]) + (
            f' (and {len(keys) - 8} more)' if len(keys) > 8 else '')

    parts = [f'{len(v)} {what}: {listing(v)}' for what, v in (
        ('missing from the checkpoint', missing),
        ('in the checkpoint but not in the model', unexpected),
        ('of another shape', shapes)) if v]
    message = (f'the weights in checkpoint {checkpoint_name} do not fit '
               f'the model of config {config}, so it would run with partly '
               f'random weights; keys ' + '; '.join(parts) + '. Is it the '
               'checkpoint of another model?')
    if allow_partial:
        print_log(message + ' (loading what fits: partial loading allowed)',
                  logger='current', level=30)
        return
    raise ValueError(message + ' To load only what fits, pass '
                     '--allow-partial-weights (allow_partial_weights=True)')
