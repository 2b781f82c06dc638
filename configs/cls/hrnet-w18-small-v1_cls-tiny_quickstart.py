# Quickstart: HRNet-W18-small-v1-C trained for a few CPU minutes on data/cls_tiny (93 real image
# crops in three classes, building / person / road, cut from the bundled COCO and Cityscapes
# images by tools/dataset_converters/make_cls_tiny.py), then evaluated on its 22 held-out crops:
# the loss falls and top-1 rises well above the 41 % of always answering the largest class.
# It shows the pipeline working; configs/cls/hrnet-w18_imagenet-224.py is the recipe.
_base_ = [
    '../_base_/models/hrnet-w18_cls.py',
    '../_base_/default_runtime.py',
]
data_root = 'data/cls_tiny/'
model = dict(backbone=dict(arch='w18-small-v1'), head=dict(num_classes=3))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='RandomResizedCrop', size=64, scale=(0.5, 1.0)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackClsInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='ResizeEdge', scale=72, edge='short'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackClsInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='ImageFolderDataset', data_root=data_root, data_prefix=dict(img='train'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=22,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ImageFolderDataset', data_root=data_root, data_prefix=dict(img='val'),
                 test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1,))
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001, nesterov=True),
    clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=10),
    dict(type='CosineAnnealingLR', T_max=30, eta_min=0.0, by_epoch=True, begin=0, end=30),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=30, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=5),
    checkpoint=dict(type='AtomicCheckpointHook', interval=30, save_best='accuracy/top1',
                    rule='greater'))
log_processor = dict(window_size=5)
randomness = dict(seed=0)
