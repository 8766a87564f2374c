# DASNet-V2 ablation: without the position and channel attention modules.
# Published MaxF on CDD: 0.9543, the best
# *validation* MaxF printed during training (not a test-split figure: the V2
# test script cannot run as shipped).
_base_ = './dasnetv2_r50-d8_1xb4-80e_cdd-256x256.py'
model = dict(neck=dict(with_attention=False))
