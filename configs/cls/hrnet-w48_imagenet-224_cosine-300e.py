# HRNet-W48-C on ImageNet-1k, 224x224, 300 epochs with a cosine schedule, label
# smoothing 0.1 and Mixup (alpha 0.8) / CutMix (alpha 1.0) batches: the newer recipe behind the
# README's HRNet_W48_C_cosinelr_cutmix_300epoch checkpoint (top-1 error 18.9).
_base_ = [
    '../_base_/models/hrnet-w18_cls.py',
    '../_base_/datasets/imagenet-224.py',
    '../_base_/schedules/sgd-cosine_300e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(arch='w48'),
    loss=dict(type='CrossEntropyLoss', label_smoothing=0.1),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))
# A checkpoint every epoch for --resume; the last 3 are kept, and the best (a W48 file with
# its SGD momentum is ~0.6 GB, one per epoch otherwise).
default_hooks = dict(checkpoint=dict(save_best='accuracy/top1', rule='greater', max_keep_ckpts=3))
