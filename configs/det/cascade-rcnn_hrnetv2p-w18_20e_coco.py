# Cascade R-CNN, HRNetV2p-W18, 20-epoch schedule on COCO, mmdet 3.x recipe
# (open-mmlab/mmdetection configs/hrnet/cascade-rcnn_hrnetv2p-w18-20e_coco.py).
# COCO val2017 box AP: mmdet 41.2; the official fork 41.2 (HRNet/HRNet-Object-Detection README).
_base_ = [
    '../_base_/models/cascade-rcnn_hrnetv2p-w32.py',
    '../_base_/datasets/coco-detection_1333x800.py',
    '../_base_/schedules/sgd_20e.py',
    '../_base_/default_runtime.py',
]
model = dict(backbone=dict(arch='w18',
                           init_cfg=dict(checkpoint='open-mmlab://msra/hrnetv2_w18')))
default_hooks = dict(checkpoint=dict(save_best='coco/AP', rule='greater'))
