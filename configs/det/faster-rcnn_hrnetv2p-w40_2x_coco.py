# Faster R-CNN, HRNetV2p-W40, 2x schedule on COCO, mmdet 3.x recipe
# (open-mmlab/mmdetection configs/hrnet/faster-rcnn_hrnetv2p-w40-2x_coco.py).
# COCO val2017 box AP: mmdet 42.1; the official fork 41.4 (HRNet/HRNet-Object-Detection README).
_base_ = [
    '../_base_/models/faster-rcnn_hrnetv2p-w32.py',
    '../_base_/datasets/coco-detection_1333x800.py',
    '../_base_/schedules/sgd_2x.py',
    '../_base_/default_runtime.py',
]
model = dict(backbone=dict(arch='w40',
                           init_cfg=dict(checkpoint='open-mmlab://msra/hrnetv2_w40')))
default_hooks = dict(checkpoint=dict(save_best='coco/AP', rule='greater'))
