# HRNetV2-W18 on your own images and label maps (SegFolderDataset), 512x512 crops, 40k iterations.
#
# Layout: data/my_dataset/images/{train,val}/<stem>.jpg and
#         data/my_dataset/annotations/{train,val}/<stem>.png holding class ids 0..K-1, 255 = ignore.
# Set `metainfo.classes` (one name per id) and `decode_head.num_classes` to the same K (they are
# checked against each other by LoadSegAnnotation via the dataset's num_classes).
# Raw ids that need remapping: add `label_map={raw_id: train_id, ...}` to both datasets.
_base_ = [
    '../_base_/models/hrnetv2-w48_fcn.py',
    '../_base_/schedules/sgd-poly_120k.py',
    '../_base_/default_runtime.py',
]
metainfo = dict(classes=('background', 'foreground'))
data_root = 'data/my_dataset'

model = dict(
    backbone=dict(
        arch='w18',
        init_cfg=dict(checkpoint='pretrained_models/hrnetv2_w18_imagenet_pretrained.pth')),
    decode_head=dict(num_classes=2),
    # No class weights (the base's are Cityscapes-specific).
    loss=dict(_delete_=True, type='CrossEntropyLoss', ignore_index=255, align_corners=False))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadSegAnnotation'),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(512, 512), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadSegAnnotation'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='ResumableInfiniteSampler', shuffle=True),
    dataset=dict(
        type='SegFolderDataset',
        data_root=data_root,
        metainfo=metainfo,
        data_prefix=dict(img_path='images/train', seg_map_path='annotations/train'),
        img_suffix='.jpg',
        seg_map_suffix='.png',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='SegFolderDataset',
        data_root=data_root,
        metainfo=metainfo,
        data_prefix=dict(img_path='images/val', seg_map_path='annotations/val'),
        img_suffix='.jpg',
        seg_map_suffix='.png',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'], ignore_index=255)
test_evaluator = val_evaluator

param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=40000, by_epoch=False),
]
train_cfg = dict(max_iters=40000, val_interval=4000)

# Iteration-based checkpoints and logs (default_runtime.py is epoch-based).
default_hooks = dict(
    logger=dict(interval=50, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=4000, max_keep_ckpts=3, save_best='mIoU'))
log_processor = dict(by_epoch=False)
