# HRNet-W40-C on ImageNet-1k, 224x224, the official recipe
# (HRNet/HRNet-Image-Classification
# experiments/cls_hrnet_w40_sgd_lr5e-2_wd1e-4_bs32_x100.yaml).
# README (ImageNet val, one 224 crop): 57.6M params, 11.8 GFLOPs, top-1/top-5 error 21.1 / 5.5.
_base_ = [
    '../_base_/models/hrnet-w18_cls.py',
    '../_base_/datasets/imagenet-224.py',
    '../_base_/schedules/sgd-nesterov_100e.py',
    '../_base_/default_runtime.py',
]
model = dict(backbone=dict(arch='w40'))
# A checkpoint every epoch for --resume; the last 3 are kept, and the best (a W48 file with
# its SGD momentum is ~0.6 GB, one per epoch otherwise).
default_hooks = dict(checkpoint=dict(save_best='accuracy/top1', rule='greater', max_keep_ckpts=3))
