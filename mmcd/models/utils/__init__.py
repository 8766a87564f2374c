from .channel_attention import ChannelAttention
from .channel_exchange import ChannelExchange
from .context_guided_block import ContextGuidedBlock, neck_cg_block
from .coordinate_attention import CoordinateAttention
from .date_interaction import StageInteractions
from .ensemble_channel_attention import EnsembleChannelAttention
from .flow_dual_alignment import FlowDualAlignment, flow_warp
from .lsnet_init import LSNET_INIT_CFG
from .nested_conv_block import NestedConvBlock
from .onnx_export import (ChangeLogits, OnnxRuntimeLogits, PReLUAsReLUMix,
                          export_onnx, fast_path_problem, pair_channels)
from .openvino_runtime import OpenVINOLogits
from .param_count import count_parameters
from .spatial_exchange import SpatialExchange

__all__ = [
    'ChannelAttention', 'ChannelExchange', 'SpatialExchange',
    'StageInteractions', 'FlowDualAlignment', 'flow_warp',
    'ContextGuidedBlock', 'CoordinateAttention',
    'EnsembleChannelAttention', 'LSNET_INIT_CFG', 'NestedConvBlock',
    'count_parameters', 'neck_cg_block', 'ChangeLogits', 'OnnxRuntimeLogits',
    'OpenVINOLogits',
    'PReLUAsReLUMix', 'export_onnx', 'fast_path_problem', 'pair_channels'
]
