# Short entry point: LSNet diffFPN on CDD (data in data/CDD/Real/subset).
#   python tools/train.py configs/lsnet_cdd.py
_base_ = './lsnet/lsnet_difffpn_1xb12-100e_cdd-256x256.py'
