# Toy experiment for engine/tools tests: iteration-based, 12 iterations of batch 2 over 10 samples.
_base_ = ['../../configs/_base_/default_runtime.py']
custom_imports = dict(imports=['_toy'], allow_failed_imports=False)

model = dict(type='hrnet_toy.ToyModel')
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='hrnet_toy.ToyDataset', num_samples=10))
val_dataloader = dict(
    batch_size=3,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='hrnet_toy.ToyDataset', num_samples=10))
test_dataloader = val_dataloader
val_evaluator = dict(type='hrnet_toy.ToyMetric')
test_evaluator = val_evaluator

train_cfg = dict(by_epoch=False, max_iters=12, val_interval=6)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.05, momentum=0.9))
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, milestones=[8], gamma=0.1)]

default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(by_epoch=False, interval=4, save_best='auto', rule='less'))
log_processor = dict(by_epoch=False)
randomness = dict(seed=7)
