# Faster R-CNN, HRNetV2p-W18, with the official fork's conventions: for testing its released
# faster_rcnn_hrnetv2p_w18_{1x,2x} checkpoints (the loader converts the box head) and for training
# with its model conventions. The schedule is mmdet 3.x's 1x (SGD 0.02 at 16 images, linear warm-up
# from 0.001 over 500 iterations, no gradient clipping); the fork clipped gradients at norm 35 and
# warmed up from 1/3 (optim_wrapper.clip_grad=dict(max_norm=35, norm_type=2) to follow it).
# COCO val2017 box AP of the fork: 36.1 (1x), 38.1 (2x)
# (HRNet/HRNet-Object-Detection README).
_base_ = [
    '../_base_/models/faster-rcnn_hrnetv2p-w32_fork.py',
    '../_base_/datasets/coco-detection_1333x800.py',
    '../_base_/schedules/sgd_1x.py',
    '../_base_/default_runtime.py',
]
model = dict(backbone=dict(arch='w18',
                           init_cfg=dict(checkpoint='open-mmlab://msra/hrnetv2_w18')))
default_hooks = dict(checkpoint=dict(save_best='coco/AP', rule='greater'))
