"""Write files so that an interrupted write leaves nothing that looks whole.

A file is written under a hidden temporary name in its own folder
(:func:`partial_path`: ``.<name>.<random>.partial<suffix>``) and renamed to
its name only once complete (``os.replace``, atomic on POSIX and Windows
within one file system). A crash, ``Ctrl-C``, a full disk or a killed process
therefore leaves either the previous file (or none) or the whole new one,
never a truncated file under the real name; a killed process may leave its
``*.partial*`` file behind, which nothing reads.

- :class:`AtomicLocalBackend`: mmengine's local file backend, writing
  atomically; registered as ``backend='atomic_local'``, so that
  ``CheckpointHook(backend_args=dict(backend='atomic_local'))`` (set by
  ``tools/train.py``) writes checkpoints this way;
- :func:`atomic_write_bytes`: the same for one buffer;
- :func:`partial_path` and :func:`commit_partial`: for outputs written
  piece by piece (whole-scene change maps).
"""
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend


def partial_path(path: Union[str, Path]) -> str:
    """A new, unused temporary name beside ``path``, with its suffix (so
    writers choosing the format by suffix still do)."""
    path = os.fspath(path)
    folder, name = osp.split(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    stem, suffix = osp.splitext(name)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{stem}.',
                               suffix=f'.partial{suffix}')
    os.close(fd)
    # mkstemp makes it owner-only; give it the permissions open() would
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return tmp


def commit_partial(tmp: str, path: Union[str, Path]) -> None:
    """Rename a finished :func:`partial_path` file to ``path``."""
    os.replace(tmp, os.fspath(path))


def discard_partial(tmp: str) -> None:
    """Remove an unfinished :func:`partial_path` file, if still there."""
    if osp.exists(tmp):
        os.remove(tmp)


def atomic_write_bytes(path: Union[str, Path], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    Args:
        path (str | Path): The file; its folder is made if missing.
        data (bytes): The whole content.
    """
    tmp = partial_path(path)
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        commit_partial(tmp, path)
    except BaseException:
        discard_partial(tmp)
        raise


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """mmengine's :class:`~mmengine.fileio.LocalBackend` whose ``put`` and
    ``put_text`` write through a temporary file and a rename
    (:func:`atomic_write_bytes`); everything else is unchanged."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write_bytes(filepath, obj)

    def put_text(self, obj: str, filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        atomic_write_bytes(filepath, obj.encode(encoding))
