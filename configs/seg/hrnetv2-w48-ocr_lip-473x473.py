# HRNetV2-W48 + OCR on LIP, official recipe (HRNet/HRNet-Semantic-Segmentation HRNet-OCR:
# experiments/lip/seg_hrnet_ocr_w48_473x473_sgd_lr7e-3_wd5e-4_bs_40_epoch150.yaml): 473x473 crops,
# batch 10 x 4 GPUs, SGD lr 0.007, momentum 0.9, wd 5e-4, 150 epochs, plain CE on both outputs
# (ignore 255), BALANCE_WEIGHTS [0.4, 1], no NONBACKBONE_KEYWORDS (no head lr multiplier).
# The YAML's MODEL.PRETRAINED is hrnetv2_w48_imagenet_pretrained_2.pth (not released under that
# name; the standard ImageNet file is used here). README: 56.48 mIoU on val, single scale +
# flip (hrnet_ocr_lip_5648_torch04.pth; the README says the LIP result only reproduces with
# PyTorch 0.4.1).
_base_ = [
    '../_base_/models/hrnetv2-w48_ocr.py',
    '../_base_/datasets/lip_473x473.py',
    '../_base_/schedules/sgd-poly_120k.py',
    '../_base_/default_runtime.py',
]
model = dict(
    decode_head=dict(num_classes=20),
    # No class weights (lib/datasets/lip.py: class_weights = None).
    loss=dict(_delete_=True, type='CrossEntropyLoss', ignore_index=255, align_corners=True),
    # Official test (README: TEST.FLIP_TEST True): the 473x473 image and its mirror; the mirror's
    # left/right channels 14<->15, 16<->17, 18<->19 are swapped before averaging, then exp
    # (lib/datasets/lip.py inference, on the last output: TEST.OUTPUT_INDEX -1).
    test_cfg=dict(mode='whole', flip=True, flip_label_pairs=[[14, 15], [16, 17], [18, 19]],
                  tta_combine='exp_sum'))

optim_wrapper = dict(optimizer=dict(lr=0.007, weight_decay=5e-4))
# tools/train.py: 150 epochs x int(30462 / 40) = 761 iterations = 114150 poly-0.9 iterations.
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=114150, by_epoch=False),
]
train_cfg = dict(max_iters=114150, val_interval=7610)
train_dataloader = dict(batch_size=10)  # per GPU, 4 GPUs

# Iteration-based checkpoints and logs (default_runtime.py is epoch-based).
default_hooks = dict(
    logger=dict(interval=50, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=7610, max_keep_ckpts=3, save_best='mIoU'))
log_processor = dict(by_epoch=False)
