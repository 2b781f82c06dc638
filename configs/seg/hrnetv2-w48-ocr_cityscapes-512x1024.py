# HRNetV2-W48 + OCR on Cityscapes, official recipe (HRNet/HRNet-Semantic-Segmentation HRNet-OCR:
# experiments/cityscapes/seg_hrnet_ocr_w48_train_512x1024_sgd_lr1e-2_wd5e-4_bs_12_epoch484.yaml):
# 512x1024 crops, batch 3 x 4 GPUs, SGD lr 0.01, momentum 0.9, wd 5e-4, 484 epochs x 247 =
# 119.5k ~ 120k poly-0.9 iterations, class-weighted CE on both outputs (USE_OHEM false),
# BALANCE_WEIGHTS [0.4, 1], align_corners True. The YAML sets no TRAIN.NONBACKBONE_KEYWORDS
# (default []), so tools/train.py gives every parameter the same lr: NONBACKBONE_MULT 10 is not
# applied here (it is on PASCAL-Context). README: val mIoU 81.6 (single scale, no flip),
# released as hrnet_ocr_cs_8162_torch11.pth.
_base_ = [
    '../_base_/models/hrnetv2-w48_ocr.py',
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
