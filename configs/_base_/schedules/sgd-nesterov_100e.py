# The official ImageNet recipe (HRNet/HRNet-Image-Classification experiments/cls_hrnet_*.yaml):
# SGD lr 0.05 with Nesterov momentum 0.9, wd 1e-4, for a total batch of 128 (`--auto-scale-lr`
# rescales it), lr x0.1 after epochs 30, 60 and 90, 100 epochs.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=0.0001, nesterov=True))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=100, milestones=[30, 60, 90],
         gamma=0.1),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(base_batch_size=128)
