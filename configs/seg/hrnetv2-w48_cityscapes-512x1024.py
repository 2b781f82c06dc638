# HRNetV2-W48 on Cityscapes, official recipe: 512x1024 crops, batch 3 x 4 GPUs, 120k iterations,
# class-weighted CE. README: 65.8M parameters, val mIoU 80.9 (v1.1 README 81.1), whole image.
_base_ = [
    '../_base_/models/hrnetv2-w48_fcn.py',
    '../_base_/datasets/cityscapes-512x1024.py',
    '../_base_/schedules/sgd-poly_120k.py',
    '../_base_/default_runtime.py',
]
train_dataloader = dict(batch_size=3)  # per GPU, 4 GPUs

# Iteration-based checkpoints and logs (default_runtime.py is epoch-based).
default_hooks = dict(
    logger=dict(interval=50, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=4000, max_keep_ckpts=3, save_best='mIoU'))
log_processor = dict(by_epoch=False)
