from .channel_attention import ChannelAttention
from .context_guided_block import ContextGuidedBlock, neck_cg_block
from .coordinate_attention import CoordinateAttention
from .ensemble_channel_attention import EnsembleChannelAttention
from .lsnet_init import LSNET_INIT_CFG
from .onnx_export import (ChangeLogits, OnnxRuntimeLogits, PReLUAsReLUMix,
                          export_onnx, fast_path_problem, pair_channels)
from .param_count import count_parameters

__all__ = [
    'ChannelAttention', 'ContextGuidedBlock',
    'CoordinateAttention', 'EnsembleChannelAttention', 'LSNET_INIT_CFG',
    'count_parameters', 'neck_cg_block', 'ChangeLogits', 'OnnxRuntimeLogits',
    'PReLUAsReLUMix', 'export_onnx', 'fast_path_problem', 'pair_channels'
]
