"""tools/deployment/export_onnx.py: two image inputs, dynamic batch and
size, checked against PyTorch with ONNX Runtime."""
import re

import numpy as np
import pytest
import torch

import os.path as osp

from tool_test_utils import (LSNET, REPO, build_lsnet, run_tool,
                             save_checkpoint)

EXPORT = osp.join(REPO, 'tools', 'deployment', 'export_onnx.py')

ort = pytest.importorskip('onnxruntime')


def test_export_matches_pytorch_at_other_sizes(tmp_path):
    model = build_lsnet()
    ckpt = save_checkpoint(model, tmp_path / 'lsnet.pth')
    out = tmp_path / 'lsnet.onnx'
    _, log = run_tool([EXPORT, LSNET, ckpt, '--out', out, '--shape', '32'])
    diffs = [float(d) for d in re.findall(r'difference ([0-9.e+-]+)', log)]
    assert len(diffs) == 2 and max(diffs) < 1e-4, log[-2000:]

    session = ort.InferenceSession(str(out),
                                   providers=['CPUExecutionProvider'])
    assert [i.name for i in session.get_inputs()] == ['img_a', 'img_b']
    # a batch and size the export never saw, against mmseg's own predict
    g = torch.Generator().manual_seed(3)
    a = torch.randint(0, 256, (3, 3, 40, 24), generator=g).float()
    b = torch.randint(0, 256, (3, 3, 40, 24), generator=g).float()
    logits = session.run(None, {'img_a': a.numpy(), 'img_b': b.numpy()})[0]
    assert logits.shape == (3, 2, 40, 24)
    with torch.no_grad():
        expected = model.predict(torch.cat([a, b], 1))
    for i, sample in enumerate(expected):
        np.testing.assert_allclose(logits[i], sample.seg_logits.data.numpy(),
                                   atol=1e-4, rtol=0)
        assert np.array_equal(logits[i].argmax(0),
                              sample.pred_sem_seg.data[0].numpy())


def test_export_refuses_to_overwrite(tmp_path):
    ckpt = save_checkpoint(build_lsnet(), tmp_path / 'lsnet.pth')
    existing = tmp_path / 'mine.onnx'
    existing.write_text('keep me')
    code, log = run_tool([EXPORT, LSNET, ckpt, '--out', existing], ok=False)
    assert code != 0 and 'mine.onnx' in log
    assert existing.read_text() == 'keep me'
