# LIP human parsing, 20 classes (background is class 0), 473x473 random crops
# (HRNet/HRNet-Semantic-Segmentation: experiments/lip/
# seg_hrnet_w48_473x473_sgd_lr7e-3_wd5e-4_bs_40_epoch150.yaml; lib/datasets/lip.py __getitem__ +
# base_dataset.py gen_sample). Sizes in code are (width, height).
dataset_type = 'LIPDataset'
data_root = 'data/LIP'

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadSegAnnotation'),
    # Official order: flip first (p 0.5; the dataset's flip_label_pairs swap the left/right arm,
    # leg and shoe ids 14<->15, 16<->17, 18<->19), then resize the whole image to 473x473
    # (aspect ratio not kept), then MULTI_SCALE: 473 x (0.5 + randint(0, SCALE_FACTOR 11) / 10),
    # i.e. 0.5..1.6 in steps of 0.1, then pad (image 0, label 255) and crop 473x473.
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=(473, 473), keep_ratio=False),
    dict(type='RandomResize', scale=(473, 473), ratio_range=(0.5, 1.6), ratio_step=0.1,
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=(473, 473)),
    dict(type='PackSegInputs'),
]
# Official testval: the image resized to 473x473 (aspect ratio not kept); the prediction is
# upsampled back to the original label size, where the metric is computed.
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='Resize', scale=(473, 473), keep_ratio=False),
    dict(type='LoadSegAnnotation'),
    dict(type='PackSegInputs'),
]

train_dataloader = dict(
    batch_size=10,  # per GPU; official 10 x 4 GPUs = 40
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='ResumableInfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='TrainVal_images/train_images',
                         seg_map_path='TrainVal_parsing_annotations/train_segmentations'),
        ann_file='TrainVal_images/train_id.txt',  # 30462 images
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='TrainVal_images/val_images',
                         seg_map_path='TrainVal_parsing_annotations/val_segmentations'),
        ann_file='TrainVal_images/val_id.txt',  # 10000 images (official testvalList.txt)
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# mIoU over the 20 classes, background included (official IGNORE_LABEL 255).
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'], ignore_index=255)
test_evaluator = val_evaluator
