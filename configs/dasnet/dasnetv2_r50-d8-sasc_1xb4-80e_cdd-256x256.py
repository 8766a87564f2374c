# DASNet-V2 ablation: the contrastive loss on the sasc embedding only.
# Published MaxF on CDD: 0.9546, the best
# *validation* MaxF printed during training (not a test-split figure: the V2
# test script cannot run as shipped).
_base_ = './dasnetv2_r50-d8_1xb4-80e_cdd-256x256.py'
model = dict(decode_head=dict(in_channels=(512, ), in_index=(2, )))
# the sa and sc projections get no gradient
find_unused_parameters = True
