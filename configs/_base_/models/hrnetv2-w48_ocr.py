# HRNetV2-W48 + OCR (HRNet/HRNet-Semantic-Segmentation, branch HRNet-OCR @7b0a416:
# lib/models/seg_hrnet_ocr.py, lib/config/default.py, lib/core/criterion.py,
# experiments/cityscapes/seg_hrnet_ocr_w48_train_512x1024_sgd_lr1e-2_wd5e-4_bs_12_epoch484.yaml).
# Differences from the V2 model (hrnetv2-w48_fcn.py), all from the OCR branch:
# - MODEL.ALIGN_CORNERS defaults to True and the OCR YAMLs do not set it: bilinear fusion,
#   concatenation, loss upsampling and test resizing all use align_corners=True;
# - BN momentum 0.1 (BN_MOMENTUM = 0.1; the head's BNs use PyTorch's default), SyncBN
#   (lib/models/bn_helper.py; mmengine's Runner turns SyncBN into BN when not distributed);
# - two outputs [aux, main] with LOSS.BALANCE_WEIGHTS [0.4, 1]: the same class-weighted CE on
#   both; the main (last) output is the prediction (TEST.OUTPUT_INDEX -1).
norm_cfg = dict(type='SyncBN', momentum=0.1)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreprocessor',
        mean=[123.675, 116.28, 103.53],  # ImageNet RGB x 255
        std=[58.395, 57.12, 57.375],
        pad_size_divisor=1,
        pad_value=0,
        seg_pad_value=255),
    backbone=dict(
        type='HRNet',
        arch='w48',
        upsample_mode='bilinear',
        align_corners=True,
        norm_cfg=norm_cfg,
        # MODEL.PRETRAINED of the OCR YAMLs; a missing file fails at init_weights.
        init_cfg=dict(type='Pretrained',
                      checkpoint='pretrained_models/hrnetv2_w48_imagenet_pretrained.pth')),
    neck=dict(type='HRNetV2Concat', align_corners=True),
    # MODEL.OCR: MID_CHANNELS 512, KEY_CHANNELS 256, DROPOUT 0.05 (SCALE 1).
    decode_head=dict(type='OCRHead', num_classes=19, channels=512, key_channels=256,
                     dropout=0.05, norm_cfg=norm_cfg),
    # Class-weighted CE, ignore 255; the Cityscapes train-id weights of lib/datasets/cityscapes.py.
    loss=dict(
        type='CrossEntropyLoss',
        class_weight=[0.8373, 0.918, 0.866, 1.0345, 1.0166, 0.9969, 0.9754, 1.0489, 0.8786,
                      1.0023, 0.9539, 0.9843, 1.1116, 0.9037, 1.0865, 1.0955, 1.0865, 1.1529,
                      1.0507],
        ignore_index=255,
        align_corners=True),
    loss_weights=[0.4, 1.0],  # [aux_head, cls_head]
    test_cfg=dict(mode='whole'),
    align_corners=True)
