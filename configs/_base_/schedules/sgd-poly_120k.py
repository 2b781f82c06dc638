# Official HRNet segmentation schedule (HRNet/HRNet-Semantic-Segmentation pytorch-v1.1:
# tools/train.py, lib/utils/utils.py adjust_learning_rate): SGD lr 0.01, momentum 0.9,
# wd 5e-4 on every parameter; lr = 0.01 * (1 - iter / max_iters) ** 0.9 per iteration, so
# eta_min = 0 (mmseg uses 1e-4). 484 epochs x 247 iterations = 119.5k ~ 120k iterations at
# batch 12.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=120000, by_epoch=False),
]
train_cfg = dict(type='FastResumeIterBasedTrainLoop', max_iters=120000, val_interval=4000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# default_hooks / log_processor live in default_runtime.py (bases may not share keys): every
# experiment on this schedule sets checkpoint by_epoch=False with an iteration interval equal to
# its val_interval (4000 for the 120k Cityscapes schedule), and log_processor by_epoch=False.
