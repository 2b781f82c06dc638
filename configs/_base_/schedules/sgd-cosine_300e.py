# A 300-epoch recipe for the newer HRNet-C checkpoints (HRNet/HRNet-Image-Classification README:
# "CosineLR + CutMix", 300 epochs; the official code has no config for it, so the rest follows
# the common timm/mmpretrain ImageNet practice): SGD lr 0.05 with Nesterov momentum for a total
# batch of 128, wd 1e-4, 5 linear warm-up epochs, cosine decay to 0.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=0.0001, nesterov=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=295, eta_min=0.0, by_epoch=True, begin=5, end=300,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=300, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(base_batch_size=128)
