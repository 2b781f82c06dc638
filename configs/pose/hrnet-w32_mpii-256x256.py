# HRNet-W32 256x256 on MPII (leoxiaobin/deep-high-resolution-net.pytorch
# experiments/mpii/hrnet/w32_256x256_adam_lr1e-3.yaml): Adam lr 1e-3, steps 170/200, 210 epochs,
# batch 32 per GPU x 4 GPUs, flip test with the 1 px shift. Official MPII val PCKh@0.5 Mean 90.3
# (README "Results on MPII val"; see docs/pose.md for the whole table).
_base_ = [
    '../_base_/models/hrnet-w32_topdown.py',
    '../_base_/datasets/mpii_256x256.py',
    '../_base_/schedules/adam_210e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    head=dict(num_keypoints=16),
    codec={{_base_.codec}},
    test_cfg=dict(flip_test=True, shift_heatmap=True))  # official FLIP_TEST, SHIFT_HEATMAP
train_dataloader = dict(batch_size=32)  # per GPU, x 4 GPUs
# A checkpoint every epoch for --resume; the last 3 are kept, and the best (each W32 pose file
# with its Adam state is ~340 MB: 210 epochs would fill ~70 GB).
default_hooks = dict(checkpoint=dict(save_best='mpii/Mean', rule='greater', max_keep_ckpts=3))
