# LSNet diffFPN on CDD with the official recipe (batch 12, AdamW 1e-3,
# StepLR x0.5 every 8 epochs, flips + 90-degree rotations, 0..255 input).
# Published (CDD test): P 0.9431, R 0.9395, F1 0.9413, OA 0.9855.
_base_ = [
    '../_base_/models/lsnet_difffpn.py', '../_base_/datasets/cdd.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_lsnet_100e.py'
]
