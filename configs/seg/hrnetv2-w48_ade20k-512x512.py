# HRNetV2-W48 (FCN head) on ADE20K, mmseg's recipe (open-mmlab/mmsegmentation
# configs/hrnet/fcn_hr48_4xb4-160k_ade20k-512x512.py + configs/_base_/schedules/schedule_160k.py):
# 512x512 crops, batch 4 x 4 GPUs, SGD lr 0.01, momentum 0.9, wd 5e-4, poly 0.9 to eta_min 1e-4
# over 160k iterations, plain CE. mmseg configs/hrnet/README.md: 42.02 mIoU on val (2000 images),
# whole image at short side 512; 43.86 with multi-scale 0.5..1.75 + flip.
_base_ = [
    '../_base_/models/hrnetv2-w48_fcn.py',
    '../_base_/datasets/ade20k_512x512.py',
    '../_base_/schedules/sgd-poly_120k.py',
    '../_base_/default_runtime.py',
]
model = dict(
    decode_head=dict(num_classes=150),
    loss=dict(_delete_=True, type='CrossEntropyLoss', ignore_index=255, align_corners=False),
    # 42.02: whole image. For the 43.86 protocol: --cfg-options
    # model.test_cfg.scales=[0.5,0.75,1.0,1.25,1.5,1.75] model.test_cfg.flip=True
    test_cfg=dict(mode='whole'))

optim_wrapper = dict(optimizer=dict(lr=0.01, weight_decay=5e-4))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=160000, by_epoch=False),
]
train_cfg = dict(max_iters=160000, val_interval=16000)
train_dataloader = dict(batch_size=4)  # per GPU, 4 GPUs

# Iteration-based checkpoints and logs (default_runtime.py is epoch-based).
default_hooks = dict(
    logger=dict(interval=50, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=16000, max_keep_ckpts=3, save_best='mIoU'))
log_processor = dict(by_epoch=False)
