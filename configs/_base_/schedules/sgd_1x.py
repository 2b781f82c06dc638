# mmdet 3.x detection schedule 1x (configs/_base_/schedules/schedule_1x.py): SGD lr 0.02 for a
# total batch of 16 (`--auto-scale-lr` rescales it), momentum 0.9, wd 1e-4, linear warm-up over
# 500 iterations from 0.001, lr x0.1 after epochs 8 and 11, 12 epochs.
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(base_batch_size=16)
