"""tools/deployment/export_onnx.py: two image inputs, dynamic batch and
size, checked against PyTorch with ONNX Runtime."""
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmseg.structures import SegDataSample

from tool_test_utils import (LSNET, REPO, build_lsnet, run_tool,
                             save_checkpoint)

EXPORT = osp.join(REPO, 'tools', 'deployment', 'export_onnx.py')

ort = pytest.importorskip('onnxruntime')


@pytest.mark.slow
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


@pytest.mark.slow
def test_channel_conversion_flag_converts_nothing_as_in_mmseg(tmp_path):
    """bgr_to_rgb on a 6-channel pair input: mmseg's SegDataPreProcessor
    converts nothing, and neither does the graph (the tool says so)."""
    model = build_lsnet()
    ckpt = save_checkpoint(model, tmp_path / 'lsnet.pth')
    out = tmp_path / 'lsnet.onnx'
    _, log = run_tool([
        EXPORT, LSNET, ckpt, '--out', out, '--shape', '32', '--cfg-options',
        'model.data_preprocessor.bgr_to_rgb=True'
    ])
    assert 'has no effect' in log and 'converts no channels' in log
    model.data_preprocessor.channel_conversion = True  # bgr_to_rgb=True
    g = torch.Generator().manual_seed(5)
    a, b = torch.randint(0, 256, (2, 3, 32, 24), generator=g).float()
    data = model.data_preprocessor(
        dict(inputs=[torch.cat([a, b])],
             data_samples=[SegDataSample(metainfo=dict(
                 ori_shape=(32, 24), img_shape=(32, 24)))]),
        False)
    with torch.no_grad():
        expected = model.predict(**data)[0].seg_logits.data.numpy()
    session = ort.InferenceSession(str(out),
                                   providers=['CPUExecutionProvider'])
    logits = session.run(None, {'img_a': a[None].numpy(),
                                'img_b': b[None].numpy()})[0][0]
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)
