# HRNetV2-W48 on Cityscapes with the official OHEM cross-entropy (LOSS.USE_OHEM in the *_ohem_*
# YAMLs: OHEMTHRES 0.9, OHEMKEEP 131072). README: val mIoU 81.2.
_base_ = [
    '../_base_/models/hrnetv2-w48_fcn.py',
    '../_base_/datasets/cityscapes-512x1024.py',
    '../_base_/schedules/sgd-poly_120k.py',
    '../_base_/default_runtime.py',
]
model = dict(
    loss=dict(
        _delete_=True,
        type='OhemCrossEntropyLoss',
        thresh=0.9,
        min_kept=131072,
        class_weight=[0.8373, 0.918, 0.866, 1.0345, 1.0166, 0.9969, 0.9754, 1.0489, 0.8786,
                      1.0023, 0.9539, 0.9843, 1.1116, 0.9037, 1.0865, 1.0955, 1.0865, 1.1529,
                      1.0507],
        ignore_index=255,
        align_corners=False))
train_dataloader = dict(batch_size=3)  # per GPU, 4 GPUs

# Iteration-based checkpoints and logs (default_runtime.py is epoch-based).
default_hooks = dict(
    logger=dict(interval=50, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=4000, max_keep_ckpts=3, save_best='mIoU'))
log_processor = dict(by_epoch=False)
