# ADE20K (ADEChallengeData2016), 150 classes ("other" = 0 ignored), 512x512 random crops, as
# open-mmlab/mmsegmentation configs/_base_/datasets/ade20k.py (the data of
# configs/hrnet/fcn_hr48_4xb4-160k_ade20k-512x512.py). Sizes in code are (width, height).
dataset_type = 'ADE20KDataset'
data_root = 'data/ade/ADEChallengeData2016'

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadSegAnnotation'),  # reduce_zero_label: 0 -> 255, k -> k - 1
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(512, 512), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    # After Resize: the label stays at the original size, for the metric.
    dict(type='LoadSegAnnotation'),
    dict(type='PackSegInputs'),
]

train_dataloader = dict(
    batch_size=4,  # per GPU; mmseg 4 x 4 GPUs = 16
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='ResumableInfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# mIoU over the 150 classes; "other" (0, 255 after reduce_zero_label) is not counted.
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'], ignore_index=255)
test_evaluator = val_evaluator
