"""tools/analysis_tools/benchmark_vs_original.py on a tiny input: the original
LSNet code (a checkout named by MMCD_LSNET_ORIGINAL; skipped without one),
mmcd eager and the fast path get the same weights (logits equal within
1e-4) and the README table is printed. Timings are printed, never asserted."""
import os
import os.path as osp
import re

import pytest

from tool_test_utils import REPO, run_tool

ORIGINAL = os.environ.get('MMCD_LSNET_ORIGINAL', '/tmp/lsnet_orig')

pytest.importorskip('onnxruntime')


@pytest.mark.slow
@pytest.mark.skipif(
    not osp.isfile(osp.join(ORIGINAL, 'models', 'Models.py')),
    reason='no checkout of qaz670756/LSNet (set MMCD_LSNET_ORIGINAL)')
def test_same_logits_as_the_original_and_the_table():
    _, log = run_tool([
        osp.join(REPO, 'tools', 'analysis_tools', 'benchmark_vs_original.py'),
        ORIGINAL, '--shape', '32', '--batch-size', '2', '--inputs', 'noise',
        '--repeats', '1', '--block', '1', '--no-int8', '--bound'
    ])
    diffs = dict(re.findall(r'(eager|ort_fp32|ov_fp32|ov_bf16) +median .* '
                            r'max \|logit - original\| ([0-9.e+-]+)', log))
    assert {'eager', 'ort_fp32', 'ov_fp32'} <= set(diffs), log[-3000:]
    assert all(float(diffs[k]) < 1e-4 for k in ('eager', 'ort_fp32',
                                                'ov_fp32'))
    assert re.search(r'\| noise \| 2 \| [0-9.]+ pairs/s \|', log)
    # the neck's per-part entry convolutions (functional, no module hook)
    # are counted: a 32x32 pair of LSNet diffFPN is 4.38 G / 64 MACs
    macs = float(re.search(r'bound, one 32x32 pair: ([0-9.]+) GMACs',
                           log).group(1))
    assert 0.0675 < macs < 0.0695, log[-3000:]
