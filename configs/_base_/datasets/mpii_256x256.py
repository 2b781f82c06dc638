# MPII Human Pose, top-down, 256x256 input (leoxiaobin/deep-high-resolution-net.pytorch
# experiments/mpii/hrnet/w32_256x256_adam_lr1e-3.yaml, lib/dataset/{mpii,JointsDataset}.py).
# Layout under data_root (the one path to edit), as the official README:
#   images/*.jpg, annot/{train,valid}.json, annot/gt_valid.mat (official evaluation GT)
dataset_type = 'MPIIDataset'
data_root = 'data/mpii/'
input_size = (256, 256)  # (w, h)
codec = dict(type='MSRAHeatmap', input_size=(256, 256), heatmap_size=(64, 64), sigma=2)

# MPIIDataset hands over a box that padding 1.25 turns into the official centre/scale
# (centre + 15 * scale down, scale x 1.25, 1-based -> 0-based); keep bbox_padding equal to it.
# Half-body is off: the official MPII YAML sets PROB_HALF_BODY -1.0 (mmpose has none either).
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=1.25),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomBBoxTransform', scale_factor=0.25, rotate_factor=30, rotate_prob=0.6),
    dict(type='TopdownAffine', input_size=(256, 256)),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage', cache_last=True),  # the instances of an image are adjacent
    dict(type='GetBBoxCenterScale', padding=1.25),
    dict(type='TopdownAffine', input_size=(256, 256)),
    dict(type='PackPoseInputs'),
]

train_dataloader = dict(
    batch_size=32,  # per GPU
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annot/train.json',
        data_prefix=dict(img='images/'),
        bbox_padding=1.25,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annot/valid.json',
        data_prefix=dict(img='images/'),
        bbox_padding=1.25,
        # the official evaluation GT (needs scipy); a JSON head-box file works too (docs/pose.md)
        gt_file='annot/gt_valid.mat',
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader

# No gt_file: the metric evaluates against the val dataset's gt_file (under data_root).
val_evaluator = dict(type='MpiiPCKhMetric', thr=0.5)
test_evaluator = val_evaluator
