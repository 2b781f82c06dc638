# Quickstart: Faster R-CNN on HRNetV2p-W18-small-v1, trained for a few CPU minutes on the four
# real COCO val2017 images bundled in data/coco_tiny (14 person boxes, one class), then evaluated
# on the same images (pycocotools, the 12 COCO bbox stats) with the detections drawn to
# <work_dir>/vis/. It shows the whole pipeline working (the losses fall, AP rises above 0 by
# memorising 14 boxes); it is not a benchmark: configs/det/faster-rcnn_hrnetv2p-w32_1x_coco.py
# is the recipe. Random init (no ImageNet weights); smaller images, box head and RoI batch than
# the recipe so that a CPU iteration takes well under a second.
_base_ = [
    '../_base_/models/faster-rcnn_hrnetv2p-w32.py',
    '../_base_/default_runtime.py',
]
data_root = 'data/coco_tiny/'

model = dict(
    backbone=dict(arch='w18-small-v1', norm_eval=False, init_cfg=None),
    neck=dict(out_channels=64),
    rpn_head=dict(feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=64, fc_out_channels=256, num_classes=1)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadDetAnnotations'),
    dict(type='Resize', scale=(512, 320), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='Resize', scale=(512, 320), keep_ratio=True),
    dict(type='LoadDetAnnotations'),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='RepeatDataset',
        times=25,  # 50 iterations of 2 images per epoch
        dataset=dict(type='CocoDetection', data_root=data_root,
                     ann_file='annotations/test_coco.json', data_prefix=dict(img='val2017/'),
                     filter_cfg=dict(filter_empty_gt=True, min_size=0),
                     pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CocoDetection', data_root=data_root,
                 ann_file='annotations/test_coco.json', data_prefix=dict(img='val2017/'),
                 test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
# No ann_file: the metric evaluates against the val dataset's annotation file.
val_evaluator = dict(type='CocoDetMetric', metric='bbox')
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001),
                     clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=6, milestones=[5], gamma=0.1),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=6, val_interval=6)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(type='AtomicCheckpointHook', interval=6, save_best='coco/AP',
                    rule='greater'))
custom_hooks = [dict(type='DetVisualizationHook', score_thr=0.3)]
log_processor = dict(window_size=25)
randomness = dict(seed=0)
