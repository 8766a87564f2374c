"""Shared fixtures; puts this folder on ``sys.path`` so test modules in
subfolders can share ``cli_helpers``."""
import os
import os.path as osp
import sys
from pathlib import Path

import pytest

HERE = osp.dirname(osp.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

#: The real sample pairs: ``MMCD_REAL_SAMPLES``, else ``shared/`` beside the
#: repository. They are read in place, never copied into the repository.
REAL_SAMPLES = Path(
    os.environ.get('MMCD_REAL_SAMPLES')
    or Path(HERE).parent.parent / 'shared' / 'data' / 'real_samples')


@pytest.fixture(scope='session')
def real_samples() -> Path:
    """The real-sample folder (``LEVIR-CD``, ``CDD``, ``AirChange``); the
    test is skipped when it is absent."""
    if not REAL_SAMPLES.is_dir():
        pytest.skip(f'real samples not available ({REAL_SAMPLES}; set '
                    'MMCD_REAL_SAMPLES)')
    return REAL_SAMPLES


#: The fast path's backends and the start of the runtime name they give
#: (``FastChangeSegmentor.runtime``).
FAST_BACKENDS = dict(openvino='OpenVINO', onnxruntime='ONNX Runtime')


@pytest.fixture(params=list(FAST_BACKENDS))
def fast_backend(request):
    """``(backend, runtime name)`` of each fast-path backend; skipped when
    it is not installed."""
    pytest.importorskip(request.param)
    return request.param, FAST_BACKENDS[request.param]
