# DASNet-V2 ablation: the contrastive loss on the sasc embedding only.
# Published MaxF on CDD: 0.9546.
_base_ = './dasnetv2_r50-d8_1xb4-80e_cdd-256x256.py'
model = dict(decode_head=dict(in_channels=(512, ), in_index=(2, )))
# the sa and sc projections get no gradient
find_unused_parameters = True
