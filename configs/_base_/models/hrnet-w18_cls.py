# HRNet-W18-C, the ImageNet classifier of HRNet/HRNet-Image-Classification
# (lib/models/cls_hrnet.py):
# the 4 branches -> incre_modules (Bottleneck to 128/256/512/1024) -> downsamp_modules summed from
# high to low resolution -> final_layer (1x1 to 2048) -> global average pooling -> classifier.
# The head takes its in_channels from the backbone, so `model.backbone.arch=w48` switches the model.
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        type='ImgDataPreprocessor',
        mean=[123.675, 116.28, 103.53],  # ImageNet, RGB (LoadImage gives RGB)
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=False),
    backbone=dict(
        type='HRNet', arch='w18', multi_scale_output=True, upsample_mode='nearest',
        # the official classifier initialises its convs kaiming-normal (fan_out), not the
        # normal(0.001) of the pose/segmentation code (cls_hrnet.py init_weights)
        init_cfg=dict(type='Kaiming', layer='Conv2d', mode='fan_out', nonlinearity='relu',
                      distribution='normal')),
    head=dict(type='HRNetClsHead', num_classes=1000),
    loss=dict(type='CrossEntropyLoss'))
