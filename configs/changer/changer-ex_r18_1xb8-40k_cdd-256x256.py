# ChangerEx-R18 on CDD: open-cd's changer_ex_r18_512x512_40k_levircd
# recipe (batch 8, 40k iterations, AdamW lr 0.005, weight decay 0.05).
# Augmentation: open-cd's (../_base_/schedules/schedule_changer_40k.py)
# with a random 256x256 crop.
# Deliberate difference: open-cd publishes no CDD recipe; this is the
# LEVIR-CD recipe with 256x256 crops (CDD's whole pairs), tested on whole
# pairs.
_base_ = [
    '../_base_/models/changer_ex_r18.py',
    '../_base_/datasets/cdd.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_changer_40k.py'
]
# the schedule's pipeline with CDD's 256x256 crop
crop_size = (256, 256)
train_pipeline = [
    dict(t, crop_size=crop_size) if t.type == 'RandomCrop' else t
    for t in _base_.changer_train_pipeline
]
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
log_processor = dict(by_epoch=False)  # iteration-based schedule
