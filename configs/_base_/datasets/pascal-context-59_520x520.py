# PASCAL-Context, 59 classes (background ignored), 520x520 random crops
# (HRNet/HRNet-Semantic-Segmentation HRNet-OCR: experiments/pascal_ctx/
# seg_hrnet_w48_cls59_520x520_sgd_lr1e-3_wd1e-4_bs_16_epoch200.yaml; lib/datasets/base_dataset.py
# gen_sample + pascal_ctx.py), in mmseg's converted layout
# (tools/dataset_converters/pascal_context.py writes it from trainval_merged.json).
# Sizes in code are (width, height).
dataset_type = 'PascalContextDataset'
data_root = 'data/VOCdevkit/VOC2010'

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadSegAnnotation'),
    # Official MULTI_SCALE: long side -> BASE_SIZE 520 x (0.5 + randint(0, SCALE_FACTOR 16) / 10),
    # i.e. 0.5..2.1 in steps of 0.1, keeping the aspect ratio.
    dict(type='RandomResize', scale=(520, 520), ratio_range=(0.5, 2.1), ratio_step=0.1,
         keep_ratio=True),
    # Pads (image 0, label 255) when smaller, then crops 520x520 (TRAIN.IMAGE_SIZE).
    dict(type='RandomCrop', crop_size=(520, 520)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
# Official testval: the image at its own size; test.py's multi_scale_inference rescales the long
# side to 520 x scale, so the pipeline brings the long side to 520 and model.test_cfg.scales are
# relative to it. The label stays at the original size, for the metric.
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='Resize', scale=(520, 520), keep_ratio=True),
    dict(type='LoadSegAnnotation'),
    dict(type='PackSegInputs'),
]

train_dataloader = dict(
    batch_size=4,  # per GPU; official 4 x 4 GPUs = 16
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='ResumableInfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext'),
        ann_file='ImageSets/SegmentationContext/train.txt',  # 4998 images
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext'),
        ann_file='ImageSets/SegmentationContext/val.txt',  # 5105 images
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# mIoU over the 59 classes; background pixels are 255 after reduce_zero_label and not counted.
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'], ignore_index=255)
test_evaluator = val_evaluator
