# Faster R-CNN, HRNetV2p-W48, 1x schedule on COCO, mmdet 3.x recipe.
# COCO val2017 box AP: mmdet has no W48 config;
# the official fork 40.9 (HRNet/HRNet-Object-Detection README).
_base_ = [
    '../_base_/models/faster-rcnn_hrnetv2p-w32.py',
    '../_base_/datasets/coco-detection_1333x800.py',
    '../_base_/schedules/sgd_1x.py',
    '../_base_/default_runtime.py',
]
model = dict(backbone=dict(arch='w48',
                           init_cfg=dict(checkpoint='open-mmlab://msra/hrnetv2_w48')))
default_hooks = dict(checkpoint=dict(save_best='coco/AP', rule='greater'))
