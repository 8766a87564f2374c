# DASNet-V2 with the cosine distance d = 1 - cos(e_A, e_B) and margins
# 0.1 / 0.8 (the paper's "cosine similarity loss"; its code is not
# published, this is the natural definition). Published MaxF on CDD: 0.9601, the best
# *validation* MaxF printed during training (not a test-split figure: the V2
# test script cannot run as shipped).
_base_ = './dasnetv2_r50-d8_1xb4-80e_cdd-256x256.py'
model = dict(
    decode_head=dict(
        distance='cosine',
        distance_threshold=0.5,
        loss_decode=dict(margin_unchanged=0.1, margin_changed=0.8)))
