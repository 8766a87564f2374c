# Real-time BiSeNetV2 change detector on LEVIR-CD: trained on random 256x256
# crops of the 1024x1024 tiles, tested on whole tiles.
_base_ = [
    '../_base_/models/bisenetv2_cd.py', '../_base_/datasets/levir_cd.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_bisenetv2cd_40k.py'
]
train_dataloader = dict(batch_size=16)
log_processor = dict(by_epoch=False)  # iteration-based schedule
