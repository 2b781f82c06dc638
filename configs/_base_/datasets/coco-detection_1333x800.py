# COCO 2017 detection (instances), the mmdet 3.x pipeline: 1333x800 keep-ratio resize, flip 0.5,
# batches padded to 32 by the model's DetDataPreprocessor, crowd boxes ignored.
# Layout under data_root (the one path to edit; every file below is relative to it):
#   {train2017,val2017}/*.jpg, annotations/instances_{train,val}2017.json
dataset_type = 'CocoDetection'
data_root = 'data/coco/'

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadDetAnnotations'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadDetAnnotations'),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    batch_size=2,  # per GPU; the recipe is 8 GPUs x 2 = 16
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# No ann_file: the metric evaluates against the val dataset's annotation file (under data_root).
val_evaluator = dict(type='CocoDetMetric', metric='bbox')
test_evaluator = val_evaluator
