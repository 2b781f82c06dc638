# HRNetV2-W48 + the official V2 segmentation head (HRNet/HRNet-Semantic-Segmentation, pytorch-v1.1:
# lib/models/seg_hrnet.py, experiments/cityscapes/seg_hrnet_w48_*.yaml).
# Bilinear fusion with align_corners=False (the v1.1 code; the OCR branch defaults to True),
# BN momentum 0.01, SyncBN (mmengine's Runner turns SyncBN into BN when not distributed).
norm_cfg = dict(type='SyncBN', momentum=0.01)
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
        align_corners=False,
        norm_cfg=norm_cfg,
        # Official ImageNet weights (HRNet/HRNet-Image-Classification); a missing file fails at
        # init_weights.
        init_cfg=dict(type='Pretrained',
                      checkpoint='pretrained_models/hrnetv2_w48_imagenet_pretrained.pth')),
    # Channels follow the backbone: the neck gets (C, 2C, 4C, 8C), the head 15C (720 for W48),
    # so `model.backbone.arch=w18` alone switches the model.
    neck=dict(type='HRNetV2Concat', align_corners=False),
    decode_head=dict(type='SegHead', num_classes=19, norm_cfg=norm_cfg),
    # Class-weighted CE, ignore 255 (lib/core/criterion.py). The weights are the Cityscapes
    # train-id weights of lib/datasets/cityscapes.py (= hrnet_train.datasets.CLASS_WEIGHTS).
    loss=dict(
        type='CrossEntropyLoss',
        class_weight=[0.8373, 0.918, 0.866, 1.0345, 1.0166, 0.9969, 0.9754, 1.0489, 0.8786,
                      1.0023, 0.9539, 0.9843, 1.1116, 0.9037, 1.0865, 1.0955, 1.0865, 1.1529,
                      1.0507],
        ignore_index=255,
        align_corners=False),
    # Official validation: the whole 2048x1024 image.
    test_cfg=dict(mode='whole'),
    align_corners=False)
