# CrowdPose, top-down, 256x192 input: open-mmlab/mmpose configs/body_2d_keypoint/topdown_heatmap/
# crowdpose/td-hm_hrnet-w32_8xb64-210e_crowdpose-256x192.py (train on trainval, test on test with
# mmpose's YOLOv3 boxes, crowdposetools AP). Layout under data_root (the one path to edit):
#   images/*.jpg, json/crowdpose_{train,val,trainval,test}.json,
#   json/det_for_crowd_test_0.1_0.5.json (mmpose's crowdpose_annotations.tar; mmpose names the
#   annotation files annotations/mmpose_crowdpose_*.json: same content format, edit ann_file)
dataset_type = 'CrowdPoseDataset'
data_root = 'data/crowdpose/'
input_size = (192, 256)  # (w, h)
codec = dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)

# mmpose's default augmentation: RandomHalfBody(min_upper_keypoints=2) and RandomBBoxTransform
# (shift 0.16 with p 0.3, scale in [0.5, 1.5], rotation within +-80 deg with p 0.6). Our
# RandomBBoxTransform clips a normal sample (official HRNet) where mmpose truncates one, so
# rotate_factor=40 gives mmpose's +-80 deg range.
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=1.25),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomHalfBody', prob=0.3, min_total_keypoints=9, min_upper_keypoints=2,
         min_lower_keypoints=3, padding=1.5),
    dict(type='RandomBBoxTransform', shift_factor=0.16, shift_prob=0.3, scale_factor=0.5,
         rotate_factor=40, rotate_prob=0.6),
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
    batch_size=64,  # per GPU (mmpose 8 x 64)
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='json/crowdpose_trainval.json',
        data_prefix=dict(img='images/'),
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
        ann_file='json/crowdpose_test.json',
        data_prefix=dict(img='images/'),
        bbox_file='json/det_for_crowd_test_0.1_0.5.json',  # YOLOv3 boxes (mmpose)
        det_score_thr=0.0,
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader

# No ann_file: the metric evaluates against the val dataset's annotation file (under data_root).
# mmpose CocoMetric defaults: bbox_keypoint rescoring (0.2), OKS-NMS at 0.9.
val_evaluator = dict(
    type='CrowdPoseMetric',
    score_mode='bbox_keypoint',
    keypoint_score_thr=0.2,
    nms_mode='oks_nms',
    nms_thr=0.9)
test_evaluator = val_evaluator
