# Real-time BiSeNetV2 change detector on CDD (Real/subset, 256x256):
# shared BiSeNetV2 branches, absolute-difference fusion per level, BGA head,
# four booster FCN heads (training only).
_base_ = [
    '../_base_/models/bisenetv2_cd.py', '../_base_/datasets/cdd.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_bisenetv2cd_40k.py'
]
train_dataloader = dict(batch_size=16)
log_processor = dict(by_epoch=False)  # iteration-based schedule
