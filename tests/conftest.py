"""Puts this folder on ``sys.path`` so test modules in subfolders can share
``cli_helpers``."""
import os.path as osp
import sys

HERE = osp.dirname(osp.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
