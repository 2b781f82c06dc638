# Faster R-CNN, HRNetV2p-W18, with the official fork's conventions: for testing its released
# faster_rcnn_hrnetv2p_w18_{1x,2x} checkpoints (the loader converts the box head) and for training
# with its recipe (SGD 0.02 at 16 images, 500-iteration warm-up, grad clip 35 in the fork; here the
# mmdet 1x schedule). COCO val2017 box AP of the fork: 36.1 (1x), 38.1 (2x)
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
