# Runtime shared by every experiment: scope, environment, default hooks, logging, checkpoints.
default_scope = 'hrnet_train'

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py and tools/test.py switch this to 'gloo' when CUDA is unavailable.
    dist_cfg=dict(backend='nccl'),
)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # AtomicCheckpointHook (hrnet_train/engine/hooks/atomic_checkpoint_hook.py) is mmengine's
    # CheckpointHook with the `last_checkpoint` pointer written atomically; same arguments.
    # Iteration-based schedules set by_epoch=False (and an iteration interval) here.
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # Stop with a message naming the iteration and the loss term when a loss becomes NaN/Inf
    # (before the checkpoint hook can save the broken weights).
    non_finite_loss=dict(type='NonFiniteLossHook'),
    # SIGTERM/SIGINT: finish the current iteration, save `iter_<n>.pth`/`epoch_<e>.pth`, exit 0.
    preemption=dict(type='PreemptionCheckpointHook'),
    # progress bar over evaluation batches (only on a terminal, main rank)
    eval_progress=dict(type='EvalProgressBarHook'),
)

log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)

# TensorBoard: add dict(type='TensorboardVisBackend') to vis_backends (needs `tensorboard`), e.g.
#   --cfg-options "visualizer.vis_backends=[dict(type='LocalVisBackend'),
#                                           dict(type='TensorboardVisBackend')]"
vis_backends = [dict(type='LocalVisBackend')]
# No fixed `name`: each Runner names its visualizer after the experiment (no sharing across runs).
visualizer = dict(type='Visualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False

# Checkpoints are written and read by hrnet_train.engine.Runner (weights_only-safe loading, atomic
# saves, RNG states); tools/train.py uses it unless a config names another `runner_type`.
randomness = dict(seed=0, diff_rank_seed=False, deterministic=False)
