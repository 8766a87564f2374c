# LSNet diffFPN on LEVIR-CD: trained on random 256x256 crops of the
# 1024x1024 tiles with the CDD recipe; tested on whole tiles.
_base_ = [
    '../_base_/models/lsnet_difffpn.py', '../_base_/datasets/levir_cd.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_lsnet_100e.py'
]
