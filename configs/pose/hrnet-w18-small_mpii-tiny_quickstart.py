# MPII quickstart: trains HRNet-W18-small-v1 for a few CPU minutes at 128x128 on the five real MPII
# people bundled in data/mpii_tiny (the same five serve as train and val), then evaluates them
# with the official PCKh table (Head ... Mean, Mean@0.1) and writes the predicted skeletons to
# <work_dir>/vis/. The head boxes are derived from the bundled joints
# (annot/headboxes_valid.json, tools/dataset_converters/make_mpii_tiny_gt.py), so its PCKh is a
# smoke test of the pipeline, not an MPII number: see configs/pose/hrnet-w32_mpii-256x256.py.
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/mpii_tiny/'
input_size = (128, 128)  # (w, h)
codec = dict(type='MSRAHeatmap', input_size=(128, 128), heatmap_size=(32, 32), sigma=1.5)

model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(type='ImgDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=False),
    backbone=dict(type='HRNet', arch='w18-small-v1', multi_scale_output=False),
    head=dict(type='HeatmapHead', num_keypoints=16),  # in_channels from the backbone
    loss=dict(type='KeypointMSELoss', use_target_weight=True),
    codec=codec,
    test_cfg=dict(flip_test=True, shift_heatmap=True))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=1.25),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomBBoxTransform', scale_factor=0.15, rotate_factor=10, rotate_prob=0.3),
    dict(type='TopdownAffine', input_size=(128, 128)),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage', cache_last=True),  # the instances of an image are adjacent
    dict(type='GetBBoxCenterScale', padding=1.25),
    dict(type='TopdownAffine', input_size=(128, 128)),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(
    batch_size=5,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='RepeatDataset',
        times=16,  # 16 passes over the 5 people per epoch
        dataset=dict(type='MPIIDataset', data_root=data_root, ann_file='annot/train.json',
                     data_prefix=dict(img='images/'), bbox_padding=1.25,
                     pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=5,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='MPIIDataset', data_root=data_root, ann_file='annot/valid.json',
                 data_prefix=dict(img='images/'), bbox_padding=1.25,
                 gt_file='annot/headboxes_valid.json', test_mode=True, pipeline=val_pipeline))
test_dataloader = val_dataloader
# No gt_file: the metric evaluates against the val dataset's gt_file (no scipy needed for JSON).
val_evaluator = dict(type='MpiiPCKhMetric', thr=0.5)
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(type='Adam', lr=3e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=20, milestones=[16], gamma=0.1),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20, val_interval=20)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=8),
    checkpoint=dict(type='AtomicCheckpointHook', interval=20, save_best='mpii/Mean',
                    rule='greater'))
custom_hooks = [dict(type='PoseVisualizationHook', bbox_score_thr=0.0)]
log_processor = dict(window_size=8)
randomness = dict(seed=0)
