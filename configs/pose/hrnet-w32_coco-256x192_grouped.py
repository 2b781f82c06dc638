# HRNet-W32 256x192 on COCO with image-grouped loading (docs/benchmark.md, "Data pipeline"):
# ImageGroupedSampler gives the persons of one image one after another, and LoadImage keeps the
# last image (cache_last), so each image is decoded once per epoch instead of once per person
# (COCO train: ~2.6 persons per image), and decoded at 1/2..1/8 when the crop allows
# (reduced_decode). Every person is still drawn once per epoch with its own augmentation; a
# batch of 32 holds the persons of ~12 images instead of ~32. Same recipe otherwise as
# hrnet-w32_coco-256x192.py; its effect on the final AP is not measured (no full COCO run here).
_base_ = ['./hrnet-w32_coco-256x192.py']

train_pipeline = [
    dict(type='LoadImage', cache_last=True, reduced_decode=True),
    dict(type='GetBBoxCenterScale', padding=1.25),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomHalfBody', prob=0.3, min_total_keypoints=9, padding=1.5),
    dict(type='RandomBBoxTransform', scale_factor=0.35, rotate_factor=45, rotate_prob=0.6),
    dict(type='TopdownAffine', input_size=(192, 256)),
    dict(type='GenerateTarget', encoder={{_base_.codec}}),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(
    sampler=dict(type='ImageGroupedSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))
