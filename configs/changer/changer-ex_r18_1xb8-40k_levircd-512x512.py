# ChangerEx-R18 on LEVIR-CD: open-cd's changer_ex_r18_512x512_40k_levircd
# recipe (batch 8, 40k iterations, AdamW lr 0.005, weight decay 0.05).
# Augmentation: open-cd's (../_base_/schedules/schedule_changer_40k.py)
# with a random 512x512 crop.
# Tested on whole 1024x1024 tiles (open-cd's test pipeline resizes to 1024,
# a no-op on LEVIR-CD).
_base_ = [
    '../_base_/models/changer_ex_r18.py',
    '../_base_/datasets/levir_cd.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_changer_40k.py'
]
crop_size = (512, 512)
train_pipeline = {{_base_.changer_train_pipeline}}
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
log_processor = dict(by_epoch=False)  # iteration-based schedule
