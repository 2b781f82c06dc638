# HRNet-W48 384x288 trained on COCO train2017 + AI Challenger train, validated on COCO val2017.
# The official COCO test-dev 77.0 AP (W48 384x288, "+ extra data": AI Challenger; 75.5 without,
# leoxiaobin/deep-high-resolution-net.pytorch README) used extra AIC data; this is the official
# W48 384x288 recipe (experiments/coco/hrnet/w48_384x288_adam_lr1e-3.yaml) with the training set
# made the mmpose way: AIC's 12 limb joints mapped onto COCO's (head top and neck dropped; mmpose
# configs/body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-aic-256x192-merge
# .py). mmpose has no W48 coco-aic number; its W32 256x192 gets 0.757 COCO val AP with AIC (merge)
# against 0.749 without (hrnet_coco_aic.md).
# AIC layout under data/aic/: annotations/aic_train.json (mmpose's aic_annotations.tar),
# ai_challenger_keypoint_train_20170902/keypoint_train_images_20170902/*.jpg.
_base_ = [
    '../_base_/models/hrnet-w48_topdown.py',
    '../_base_/datasets/coco-keypoints_384x288.py',
    '../_base_/schedules/adam_210e.py',
    '../_base_/default_runtime.py',
]
model = dict(codec={{_base_.codec}})

# AIC (source index) -> COCO (target index): shoulders, elbows, wrists, hips, knees, ankles.
aic_to_coco = [(0, 6), (1, 8), (2, 10), (3, 5), (4, 7), (5, 9), (6, 12), (7, 14), (8, 16),
               (9, 11), (10, 13), (11, 15)]
train_dataloader = dict(
    batch_size=24,  # per GPU, x 4 GPUs (official)
    dataset=dict(
        _delete_=True,
        type='CombinedDataset',
        metainfo=dict(from_dataset='CocoKeypointDataset'),
        datasets=[
            dict(type='CocoKeypointDataset', data_root='data/coco/',
                 ann_file='annotations/person_keypoints_train2017.json',
                 data_prefix=dict(img='train2017/'), pipeline=[]),
            dict(type='AicDataset', data_root='data/aic/', ann_file='annotations/aic_train.json',
                 data_prefix=dict(img='ai_challenger_keypoint_train_20170902/'
                                  'keypoint_train_images_20170902/'),
                 pipeline=[dict(type='KeypointConverter', num_keypoints=17,
                                mapping=aic_to_coco)]),
        ],
        pipeline={{_base_.train_pipeline}}))
# A checkpoint every epoch for --resume; the last 3 are kept, and the best (each W32 pose file
# with its Adam state is ~340 MB: 210 epochs would fill ~70 GB).
default_hooks = dict(checkpoint=dict(save_best='coco/AP', rule='greater', max_keep_ckpts=3))
auto_scale_lr = dict(base_batch_size=96)  # official 24 x 4
