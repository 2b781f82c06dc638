# Quickstart: the README's main job. Trains HRNet-W18-small-v1 for a few CPU minutes on the four
# real COCO val2017 images bundled in data/coco_tiny (12 annotated people), then evaluates on the
# same people (GT boxes, flip test, OKS-NMS, pycocotools COCOeval), prints the 10 COCO keypoint
# stats and writes the images with the predicted skeletons to <work_dir>/vis/.
# It shows the whole pipeline working (the loss falls, AP rises above 0 by memorising 12 people);
# it is not a benchmark: see configs/pose/hrnet-w32_coco-256x192.py for the paper's recipe.
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/coco_tiny/'
input_size = (96, 128)  # (w, h)
codec = dict(type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=1.5)

model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(type='ImgDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=False),
    backbone=dict(type='HRNet', arch='w18-small-v1', multi_scale_output=False),
    head=dict(type='HeatmapHead', num_keypoints=17),  # in_channels from the backbone
    loss=dict(type='KeypointMSELoss', use_target_weight=True),
    codec=codec,
    test_cfg=dict(flip_test=True, shift_heatmap=True))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=1.25),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomBBoxTransform', scale_factor=0.15, rotate_factor=10, rotate_prob=0.3),
    dict(type='TopdownAffine', input_size=(96, 128)),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage', cache_last=True),  # the instances of an image are adjacent
    dict(type='GetBBoxCenterScale', padding=1.25),
    dict(type='TopdownAffine', input_size=(96, 128)),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(
    batch_size=12,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='RepeatDataset',
        times=8,  # 8 passes over the 12 people per epoch
        dataset=dict(type='CocoKeypointDataset', data_root=data_root,
                     ann_file='annotations/test_coco.json', data_prefix=dict(img='val2017/'),
                     pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=12,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CocoKeypointDataset', data_root=data_root,
                 ann_file='annotations/test_coco.json', data_prefix=dict(img='val2017/'),
                 test_mode=True, pipeline=val_pipeline))
test_dataloader = val_dataloader
# No ann_file: the metric evaluates against the val dataset's annotation file.
val_evaluator = dict(type='CocoKeypointMetric', score_mode='bbox_keypoint', keypoint_score_thr=0.2,
                     nms_mode='oks_nms', nms_thr=0.9)
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(type='Adam', lr=3e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=30, milestones=[24], gamma=0.1),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=30, val_interval=30)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=8),
    checkpoint=dict(type='AtomicCheckpointHook', interval=30, save_best='coco/AP', rule='greater'))
custom_hooks = [dict(type='PoseVisualizationHook', bbox_score_thr=0.0)]
log_processor = dict(window_size=8)
randomness = dict(seed=0)
