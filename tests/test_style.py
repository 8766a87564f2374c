"""The package, tools and tests pass flake8 (PEP 8, unused names, syntax)."""
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_flake8_finds_nothing():
    pytest.importorskip('flake8')
    result = subprocess.run(
        [sys.executable, '-m', 'flake8', 'mmcd', 'tools', 'tests'],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
