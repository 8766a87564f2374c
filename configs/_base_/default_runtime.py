default_scope = 'mmcd'
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='ChangeLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
# tools/test.py on CPU tests `fast_model` around `model` (as mmseg's --tta
# does with tta_model) unless --no-fast: the network runs in ONNX Runtime
fast_model = dict(type='FastChangeSegmentor')
# checkpoints also carry the change decision threshold (next to the config
# and dataset_meta mmengine writes), for mmcd.apis.ChangeInferencer
# ChangeReportHook writes ChangeMetric's PR curve / per-image table into the
# run's log dir
# ExactResumeHook: --resume continues as the uninterrupted run (random
# states, the resumed run's schedule length; see the README)
# `channels_last = True` in a config (or tools/train.py --channels-last)
# trains in the channels-last memory format (ChannelsLastHook): the same
# results up to float rounding, faster where depthwise convolutions dominate
# (LSNet's model config sets it)
custom_hooks = [
    dict(type='ChangeCheckpointMetaHook'),
    dict(type='ChangeReportHook'),
    dict(type='ExactResumeHook')
]
