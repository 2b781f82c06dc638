# Test only: the COCO-trained HRNet-W32 256x192 (configs/pose/hrnet-w32_coco-256x192.py; load its
# checkpoint with --checkpoint / load_from) evaluated on OCHuman with GT boxes, COCO keypoint AP.
# OCHuman has no training split. mmpose reports for this model on OCHuman test with GT boxes AP
# 0.591, AP50 0.748, AP75 0.641, AR 0.631, AR50 0.775 (mmpose 0.x result table, now
# configs/legacy/body/2d_kpt_sview_rgb_img/topdown_heatmap/ochuman/hrnet_ochuman.md).
# Layout under data_root: images/*.jpg,
# annotations/ochuman_coco_format_{val,test}_range_0.00_1.00.json.
_base_ = [
    '../_base_/models/hrnet-w32_topdown.py',
    '../_base_/datasets/coco-keypoints_256x192.py',
    '../_base_/schedules/adam_210e.py',
    '../_base_/default_runtime.py',
]
model = dict(codec={{_base_.codec}})
# If trained (on COCO, the base recipe): a checkpoint per epoch, the last 3 kept.
default_hooks = dict(checkpoint=dict(max_keep_ckpts=3))
data_root = 'data/ochuman/'
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='OCHumanDataset',
        data_root=data_root,
        ann_file='annotations/ochuman_coco_format_test_range_0.00_1.00.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline={{_base_.val_pipeline}}))
test_dataloader = val_dataloader
# No ann_file: evaluated against the OCHuman annotation file above; COCO's 17 sigmas.
val_evaluator = dict(type='CocoKeypointMetric', score_mode='bbox_keypoint',
                     keypoint_score_thr=0.2, nms_mode='oks_nms', nms_thr=0.9)
test_evaluator = val_evaluator
