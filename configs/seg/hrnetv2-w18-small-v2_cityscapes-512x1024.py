# HRNetV2-W18-Small-v2 on Cityscapes, official recipe
# (experiments/cityscapes/seg_hrnet_w18_small_v2_512x1024_*.yaml). README: 3.9M, mIoU 76.2.
_base_ = [
    '../_base_/models/hrnetv2-w48_fcn.py',
    '../_base_/datasets/cityscapes-512x1024.py',
    '../_base_/schedules/sgd-poly_120k.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(
        arch='w18-small-v2',
        init_cfg=dict(checkpoint='pretrained_models/hrnet_w18_small_model_v2.pth')))

train_dataloader = dict(batch_size=3)  # per GPU, 4 GPUs

# Iteration-based checkpoints and logs (default_runtime.py is epoch-based).
default_hooks = dict(
    logger=dict(interval=50, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=4000, max_keep_ckpts=3, save_best='mIoU'))
log_processor = dict(by_epoch=False)
