"""CompileNetworkHook: the backbone, neck and decode head run compiled (the
graphs reach the torch.compile backend), the losses are the eager model's,
the state dict is unchanged; tools/train.py --compile adds the hook."""
import copy
from types import SimpleNamespace

import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmcd.registry import HOOKS
from test_tools.tool_test_utils import build_lsnet


def samples(n, size, gen):
    out = []
    for _ in range(n):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(
            data=(torch.rand(1, size, size, generator=gen) > 0.7).long())
        sample.set_metainfo(dict(img_shape=(size, size),
                                 pad_shape=(size, size)))
        out.append(sample)
    return out


def test_network_runs_compiled_with_the_eager_losses():
    torch._dynamo.reset()
    graphs = []

    def recording_backend(graph_module, example_inputs):
        graphs.append(graph_module)
        return graph_module.forward  # run the captured graph as it is

    eager = build_lsnet().train()
    compiled = copy.deepcopy(eager)
    hook = HOOKS.build(dict(type='CompileNetworkHook',
                            backend=recording_backend))
    assert hook.priority == 'HIGH'
    hook.before_run(SimpleNamespace(model=compiled))
    for fn, original in ((compiled.extract_feat, eager.extract_feat),
                         (compiled.decode_head.forward,
                          eager.decode_head.forward)):
        assert fn._torchdynamo_orig_callable.__func__ is original.__func__
    gen = torch.Generator().manual_seed(0)
    inputs = torch.rand(2, 6, 32, 32, generator=gen) * 255
    targets = samples(2, 32, gen)
    expected = eager.loss(inputs, copy.deepcopy(targets))
    got = compiled.loss(inputs, copy.deepcopy(targets))
    assert graphs, 'nothing was compiled'
    ops = {str(n.target) for g in graphs for n in g.graph.nodes}
    assert any('conv2d' in op for op in ops)
    for key in ('decode.loss_ce', 'decode.loss_dice'):
        torch.testing.assert_close(got[key], expected[key], rtol=1e-6,
                                   atol=1e-7)
    sum(v for k, v in got.items() if 'loss' in k).backward()
    assert all(p.grad is not None for p in compiled.backbone.parameters()
               if p.requires_grad)
    assert compiled.state_dict().keys() == eager.state_dict().keys()
    torch._dynamo.reset()
