# Cityscapes, 512x1024 random crops (HRNet/HRNet-Semantic-Segmentation pytorch-v1.1:
# lib/datasets/base_dataset.py + cityscapes.py, experiments/cityscapes/*.yaml).
# Sizes in code are (width, height).
dataset_type = 'CityscapesDataset'
data_root = 'data/cityscapes'

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadSegAnnotation'),
    # Official: ratio 0.5 + randint(0, 16) / 10, i.e. 0.5..2.1 in steps of 0.1, of 2048x1024.
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.1), ratio_step=0.1,
         keep_ratio=True),
    # Pads (image 0, label 255) when smaller, then crops 1024 wide x 512 high.
    dict(type='RandomCrop', crop_size=(1024, 512)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    # After Resize: the label stays at the original size, for the metric.
    dict(type='LoadSegAnnotation'),
    dict(type='PackSegInputs'),
]

train_dataloader = dict(
    batch_size=3,  # per GPU; official 3 x 4 GPUs = 12
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='ResumableInfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'], ignore_index=255)
test_evaluator = val_evaluator
