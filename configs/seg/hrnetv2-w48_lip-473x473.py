# HRNetV2-W48 on LIP, official recipe (HRNet/HRNet-Semantic-Segmentation master, PyTorch 0.4.1:
# experiments/lip/seg_hrnet_w48_473x473_sgd_lr7e-3_wd5e-4_bs_40_epoch150.yaml): 473x473 crops,
# batch 10 x 4 GPUs, SGD lr 0.007, momentum 0.9, wd 5e-4, 150 epochs, plain CE (ignore 255).
# README (master): 65.8M parameters, 56.04 mIoU on val (10000 images), single scale + flip.
_base_ = [
    '../_base_/models/hrnetv2-w48_fcn.py',
    '../_base_/datasets/lip_473x473.py',
    '../_base_/schedules/sgd-poly_120k.py',
    '../_base_/default_runtime.py',
]
model = dict(
    decode_head=dict(num_classes=20),
    # No class weights (lib/datasets/lip.py: class_weights = None).
    loss=dict(_delete_=True, type='CrossEntropyLoss', ignore_index=255, align_corners=False),
    # The official test behind 56.04 (README: tools/test.py DATASET.TEST_SET
    # list/lip/testvalList.txt TEST.FLIP_TEST True TEST.NUM_SAMPLES 0): the 473x473 image and its
    # mirror; the mirrored logits swap the left/right channels 14<->15, 16<->17, 18<->19 before
    # they are flipped back and averaged, then exp (lib/datasets/lip.py inference).
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
