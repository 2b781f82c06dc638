# COCO 2017 person keypoints, top-down, 256x192 input (the official recipe,
# leoxiaobin/deep-high-resolution-net.pytorch).
# Layout under data_root (the one path to edit; every file below is relative to it):
#   {train2017,val2017}/*.jpg, annotations/person_keypoints_{train,val}2017.json,
#   person_detection_results/COCO_val2017_detections_AP_H_56_person.json
dataset_type = 'CocoKeypointDataset'
data_root = 'data/coco/'
input_size = (192, 256)  # (w, h)
codec = dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=1.25),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomHalfBody', prob=0.3, min_total_keypoints=9, padding=1.5),
    dict(type='RandomBBoxTransform', scale_factor=0.35, rotate_factor=45, rotate_prob=0.6),
    dict(type='TopdownAffine', input_size=(192, 256)),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage', cache_last=True),  # the instances of an image are adjacent
    dict(type='GetBBoxCenterScale', padding=1.25),
    dict(type='TopdownAffine', input_size=(192, 256)),
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
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'),
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
        ann_file='annotations/person_keypoints_val2017.json',
        data_prefix=dict(img='val2017/'),
        # official test: detector boxes (AP 56.4 person detector), IMAGE_THRE 0.0
        bbox_file='person_detection_results/COCO_val2017_detections_AP_H_56_person.json',
        det_score_thr=0.0,
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader

# No ann_file: the metric evaluates against the val dataset's annotation file (under data_root).
val_evaluator = dict(
    type='CocoKeypointMetric',
    score_mode='bbox_keypoint',
    keypoint_score_thr=0.2,  # official IN_VIS_THRE
    nms_mode='oks_nms',
    nms_thr=0.9)  # official OKS_THRE
test_evaluator = val_evaluator
