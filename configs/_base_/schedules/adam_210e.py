# Official pose recipe (leoxiaobin/deep-high-resolution-net.pytorch experiments/coco/hrnet/*.yaml):
# Adam lr 1e-3 with NO weight decay (TRAIN.WD is never passed to Adam), steps at 170/200,
# 210 epochs, batch 32 per GPU x 4 GPUs. (The official scheduler fires each step one epoch
# early; we use the nominal epochs.)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, weight_decay=0.0))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=210, milestones=[170, 200], gamma=0.1),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=210, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# lr 1e-3 is for 4 GPUs x 32; `--auto-scale-lr` scales it linearly to the real total batch.
auto_scale_lr = dict(base_batch_size=128)
