# HRNet-W32 256x192 on CrowdPose: open-mmlab/mmpose configs/body_2d_keypoint/topdown_heatmap/
# crowdpose/td-hm_hrnet-w32_8xb64-210e_crowdpose-256x192.py (Adam 5e-4 for 8 x 64, 500-iteration
# linear warm-up, steps at 170/200, 210 epochs, flip test). mmpose reports on CrowdPose test with
# YOLOv3 boxes AP 0.675, AP50 0.825, AP75 0.729, AP(E) 0.770, AP(M) 0.687, AP(H) 0.553
# (hrnet_crowdpose.md, checkpoint hrnet_w32_crowdpose_256x192-960be101_20201227.pth).
_base_ = [
    '../_base_/models/hrnet-w32_topdown.py',
    '../_base_/datasets/crowdpose_256x192.py',
    '../_base_/schedules/adam_210e.py',
    '../_base_/default_runtime.py',
]
model = dict(codec={{_base_.codec}}, head=dict(num_keypoints=14))
train_dataloader = dict(batch_size=64)  # per GPU, x 8 GPUs
optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=210, milestones=[170, 200], gamma=0.1),
]
auto_scale_lr = dict(base_batch_size=512)  # mmpose 8 x 64
# A checkpoint every epoch for --resume; the last 3 are kept, and the best (each W32 pose file
# with its Adam state is ~340 MB: 210 epochs would fill ~70 GB).
default_hooks = dict(checkpoint=dict(save_best='crowdpose/AP', rule='greater', max_keep_ckpts=3))
