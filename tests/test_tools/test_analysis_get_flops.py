"""tools/analysis_tools/get_flops.py: both counting conventions."""
import pytest
import torch
from mmengine.analysis import FlopAnalyzer

from mmcd.models.utils import ContextGuidedBlock, count_parameters
from test_models.test_lsnet_components import concatenate_then_run
from tool_test_utils import REPO, build_lsnet, load_tool

get_flops = load_tool('analysis_tools', 'get_flops.py')


def test_one_block_counted_by_hand():
    # CG block 4 -> 8 channels (working width 4), reduction 4, on 1x4x8x8
    block = ContextGuidedBlock(4, 8, dilation=1, reduction=4,
                               skip_connect=False).eval()
    x = torch.rand(1, 4, 8, 8)
    thop = FlopAnalyzer(block, x).set_op_handle(**get_flops.THOP_HANDLES)
    # conv_in 256 out x (4 + bias 1) = 1280; norm_in 2 x 256 = 512;
    # two depthwise 3x3: 2 x 256 x 9 = 4608; norm_joint 2 x 512 = 1024;
    # pool (64 + 1) x 8 = 520; linears 2 x 8 + 8 x 2 = 32
    assert thop.total() == 1280 + 512 + 4608 + 1024 + 520 + 32
    # mmengine: conv without bias 1024, BN 512 + 1024, depthwise 4608,
    # adaptive pool 1 per input element 512, linears 32
    assert FlopAnalyzer(block, x).total() == 1024 + 512 + 4608 + 1024 + \
        512 + 32
    # params: conv_in 20, BN 8 + 16, depthwise 72, linears 18 + 24 = 158,
    # plus PReLU slopes 4 + 8 in the full count
    assert count_parameters(block) == 158
    assert count_parameters(block, exclude=()) == 170


# published in qaz670756/LSNet weights/readme.txt (thop, one 256x256 pair)
PUBLISHED = {
    'lsnet_difffpn': (1_207_706, 5_215_173_504),
    'lsnet_thindifffpn': (1_167_922, 4_778_421_408),
    'lsnet_densefpn': (1_096_694, 5_865_196_960),
}


@pytest.mark.parametrize('name', sorted(PUBLISHED))
@pytest.mark.slow
def test_lsnet_published_figures(name, monkeypatch):
    config = f'{REPO}/configs/lsnet/{name}_1xb12-100e_cdd-256x256.py'
    # MACs at the published 256x256 for diffFPN; parameters (size-free) of
    # the other two on small inputs, to keep the suite fast (the tool
    # prints 4.778421408 G and 5.86519696 G for them at 256 on the
    # original's graph)
    size = 256 if name == 'lsnet_difffpn' else 32
    model = build_lsnet(config)
    result = get_flops.complexity(model, (size, size))
    total = result['inference']
    assert total['params_thop'] == PUBLISHED[name][0]
    assert total['params_full'] > total['params_thop']  # PReLU slopes
    for key in total:
        assert total[key] == sum(result[p][key]
                                 for p in ('backbone', 'neck', 'decode_head'))
    if size != 256:
        return
    # the architecture is the original's: run as its graph (the necks'
    # blocks on concatenations), it has the published MACs ...
    with monkeypatch.context() as patch:
        patch.setattr(ContextGuidedBlock, 'forward_concat',
                      concatenate_then_run)
        original = get_flops.complexity(model, (size, size))['inference']
    assert original['macs_thop'] == PUBLISHED[name][1]
    assert original['params_thop'] == PUBLISHED[name][0]
    # ... and mmcd's graph computes the same with fewer (the necks' entry
    # convolutions of coarser parts at their own resolution)
    assert total['macs_thop'] < original['macs_thop']
    assert total['macs_full'] < original['macs_full']


def test_auxiliary_heads_listed_apart():
    config = f'{REPO}/configs/lsnet/lsnet_difffpn-ds_1xb12-100e_cdd-256x256.py'
    result = get_flops.complexity(build_lsnet(config), (32, 32))
    assert {'auxiliary_head.0', 'auxiliary_head.1'} <= set(result)
    aux = result['auxiliary_head.0']
    # 1x1 conv 32 -> 2 with bias on one 32x32 map: 66 params,
    # 2048 x 32 MACs (+ 2048 bias in thop's convention)
    assert aux['params_full'] == 66
    assert (aux['macs_full'], aux['macs_thop']) == (65536, 67584)
    plain = get_flops.complexity(build_lsnet(), (32, 32))['inference']
    assert result['inference'] == plain  # not part of the inference model
    table = get_flops.format_table(result, (32, 32))
    assert 'training only' in table and 'auxiliary_head.1' in table
