# Quick start: a few CPU iterations of HRNetV2-W18-Small-v1 on the one bundled Cityscapes frame
# (data/cityscapes_tiny: a 256x128 (w x h) copy; trained and evaluated on it), 256x128 crops (the
# whole frame), batch 2, 30 iterations, evaluation at the end. Random init (no ImageNet weights),
# plain BN with momentum 0.1 (the official 0.01 would leave the running statistics unsettled
# after 30 steps).
#   python tools/train.py configs/seg/hrnetv2-w18-small-v1_cityscapes-tiny_quickstart.py
# prints the per-class IoU table with aAcc / mIoU / mAcc and writes the coloured prediction and
# its overlay to work_dirs/<this config>/vis/val_iter30/ (SegVisualizationHook).
_base_ = [
    '../_base_/models/hrnetv2-w48_fcn.py',
    '../_base_/datasets/cityscapes-512x1024.py',
    '../_base_/schedules/sgd-poly_120k.py',
    '../_base_/default_runtime.py',
]
data_root = 'data/cityscapes_tiny'

model = dict(
    backbone=dict(arch='w18-small-v1', norm_cfg=dict(type='BN', momentum=0.1), init_cfg=None),
    decode_head=dict(norm_cfg=dict(type='BN', momentum=0.1)))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadSegAnnotation'),
    dict(type='RandomResize', scale=(256, 128), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(256, 128)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='Resize', scale=(256, 128), keep_ratio=True),
    dict(type='LoadSegAnnotation'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=30, by_epoch=False),
]
train_cfg = dict(max_iters=30, val_interval=30)
# Iteration-based checkpoints and logs (default_runtime.py is epoch-based).
default_hooks = dict(
    logger=dict(interval=5, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=30, max_keep_ckpts=1, save_best='mIoU'))
log_processor = dict(by_epoch=False)

# Coloured predicted label maps + overlays under <work_dir>/vis/<val_iter<n> | test>/.
custom_hooks = [dict(type='SegVisualizationHook', max_images=4)]
