# DASNet-V2's recipe: Adam lr 1e-4 (weight decay 5e-5), 80 epochs, lr 5e-5
# from epoch 20, 1e-5 from 40, 1e-6 from 50 (the original's step function
# of epoch; its brief return to 5e-6 at epochs 60-69 is not reproduced);
# validation every epoch keeps the best MaxF.
_base_ = './schedule_dasnet_60e.py'
param_scheduler = [
    dict(type='MultiStepLR', milestones=[20], gamma=0.5, by_epoch=True),
    dict(type='MultiStepLR', milestones=[40], gamma=0.2, by_epoch=True),
    dict(type='MultiStepLR', milestones=[50], gamma=0.1, by_epoch=True),
]
train_cfg = dict(max_epochs=80)
