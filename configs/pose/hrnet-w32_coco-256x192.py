# HRNet-W32 256x192 on COCO (leoxiaobin/deep-high-resolution-net.pytorch
# experiments/coco/hrnet/w32_256x192_adam_lr1e-3.yaml). Official val2017 with detector boxes + flip:
# see docs/pose.md for the table this reproduces.
_base_ = [
    '../_base_/models/hrnet-w32_topdown.py',
    '../_base_/datasets/coco-keypoints_256x192.py',
    '../_base_/schedules/adam_210e.py',
    '../_base_/default_runtime.py',
]
model = dict(codec={{_base_.codec}})
train_dataloader = dict(batch_size=32)  # per GPU, x 4 GPUs
# A checkpoint every epoch for --resume; the last 3 are kept, and the best (each W32 pose file
# with its Adam state is ~340 MB: 210 epochs would fill ~70 GB).
default_hooks = dict(checkpoint=dict(save_best='coco/AP', rule='greater', max_keep_ckpts=3))
