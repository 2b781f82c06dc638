# HRNetV2-W48 + OCR on PASCAL-Context, 59 classes, official recipe (HRNet/HRNet-Semantic-
# Segmentation HRNet-OCR: experiments/pascal_ctx/
# seg_hrnet_ocr_w48_cls59_520x520_sgd_lr1e-3_wd1e-4_bs_16_epoch200.yaml): 520x520 crops, batch
# 4 x 4 GPUs, SGD lr 0.001, momentum 0.9, wd 1e-4, 200 epochs, plain CE on both outputs,
# BALANCE_WEIGHTS [0.4, 1]; TRAIN.NONBACKBONE_KEYWORDS ['cls', 'aux', 'ocr'] with
# NONBACKBONE_MULT 10: those substrings match exactly the OCR head's parameters (cls_head,
# aux_head, conv3x3_ocr, ocr_distri_head), i.e. our decode_head.
# README: 56.2 mIoU on val with multi-scale 0.5..2.0 + flip (hrnet_ocr_pascal_ctx_5618_torch11.pth).
_base_ = [
    '../_base_/models/hrnetv2-w48_ocr.py',
    '../_base_/datasets/pascal-context-59_520x520.py',
    '../_base_/schedules/sgd-poly_120k.py',
    '../_base_/default_runtime.py',
]
model = dict(
    decode_head=dict(num_classes=59),
    # No class weights (lib/datasets/pascal_ctx.py: class_weights = None).
    loss=dict(_delete_=True, type='CrossEntropyLoss', ignore_index=255, align_corners=True),
    # Official test (README: TEST.SCALE_LIST 0.5,0.75,1.0,1.25,1.5,1.75,2.0 TEST.FLIP_TEST True):
    # 520x520 windows with stride int(520 * 2 / 3) = 346 for views above 520, exp of the
    # flip-averaged logits summed over scales (lib/datasets/base_dataset.py). Faster single-scale
    # validation: --cfg-options model.test_cfg.scales=[1.0] model.test_cfg.flip=False
    test_cfg=dict(mode='slide', crop_size=(520, 520), stride=(346, 346),
                  scales=[0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0], flip=True,
                  tta_combine='exp_sum'))

# lr 0.001 on the backbone, 0.01 on the OCR head; wd 1e-4 on every parameter.
optim_wrapper = dict(
    optimizer=dict(lr=0.001, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}))
# tools/train.py: 200 epochs x int(4998 / 16) = 312 iterations = 62400 poly-0.9 iterations.
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=62400, by_epoch=False),
]
train_cfg = dict(max_iters=62400, val_interval=6240)
train_dataloader = dict(batch_size=4)  # per GPU, 4 GPUs

# Iteration-based checkpoints and logs (default_runtime.py is epoch-based).
default_hooks = dict(
    logger=dict(interval=50, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=6240, max_keep_ckpts=3, save_best='mIoU'))
log_processor = dict(by_epoch=False)
