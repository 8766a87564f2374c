# BIT_R18 on LEVIR-CD starting from ImageNet ResNet-18 weights, as the BIT
# paper describes (BIT's code re-draws them, see ../_base_/models/bit_r18.py).
# torchvision's file loads into mmseg's ResNet by name (conv1..layer3; its
# layer4 and fc are left out). mmengine's `torchvision://resnet18` needs
# torchvision, which does not import beside mmcd's torch: the URL (cached in
# ~/.cache/torch/hub/checkpoints after the first download) or a local path
# works instead.
_base_ = './bit_r18_1xb8-200e_levircd-256x256.py'
model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint='https://download.pytorch.org/models/'
            'resnet18-5c106cde.pth')))
