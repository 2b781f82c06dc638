# Runtime shared by every experiment: scope, environment, default hooks, logging, checkpoints.
default_scope = 'hrnet_train'

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py and tools/test.py switch this to 'gloo' when CUDA is unavailable.
    dist_cfg=dict(backend='nccl'),
)

# CPU runs: glibc malloc keeps freed blocks for reuse instead of unmapping them, so training steps
# with large activations do not fault their pages in again (1.2-1.7x faster W32 / seg training
# on CPU, docs/benchmark.md; the process keeps its peak heap). Ignored with CUDA.
keep_freed_memory = True

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # AtomicCheckpointHook (hrnet_train/engine/hooks/atomic_checkpoint_hook.py) is mmengine's
    # CheckpointHook writing through the 'atomic_local' backend (<file>.tmp, fsync, rename);
    # same arguments. Iteration-based schedules set by_epoch=False (and an iteration interval).
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # RNG states and the train sampler's seed into every checkpoint, restored on resume.
    resume_state=dict(type='ResumeStateHook'),
    # Stop with a message naming the iteration and the loss term when a loss becomes NaN/Inf
    # (before the checkpoint hook can save the broken weights).
    non_finite_loss=dict(type='NonFiniteLossHook'),
    # Stop when a finite loss explodes: > spike_factor x the median of the last `window`
    # iterations, after `warmup` iterations (normal training stays within a few x), or above
    # max_loss when set. Same place in the iteration as non_finite_loss.
    loss_spike=dict(type='LossSpikeHook', spike_factor=1000.0, window=50, warmup=50),
    # SIGTERM/SIGINT: finish the current iteration, save `iter_<n>.pth`/`epoch_<e>.pth`, exit 0.
    preemption=dict(type='PreemptionCheckpointHook'),
    # progress bar over evaluation batches (only on a terminal, main rank)
    eval_progress=dict(type='EvalProgressBarHook'),
)

log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)

# TensorBoard (needs `pip install tensorboard`): `python tools/train.py CONFIG --tensorboard`
# adds dict(type='TensorboardVisBackend') to visualizer.vis_backends, next to the local backend;
# then `tensorboard --logdir work_dirs/<config>`. (--cfg-options cannot append a dict to a list;
# `--cfg-options visualizer.vis_backends.0.type=TensorboardVisBackend` replaces the local one.
# vis_backends below is copied into visualizer when this file is read: override
# visualizer.vis_backends, not vis_backends.)
vis_backends = [dict(type='LocalVisBackend')]
# No fixed `name`: each Runner names its visualizer after the experiment (no sharing across runs).
visualizer = dict(type='Visualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False

# tools/train.py and tools/test.py build hrnet_train.engine.Runner (strict weights_only-safe
# loading of every official layout, the work-dir lock) unless a config names another
# `runner_type`; atomic saves and RNG states come from the hooks above.
randomness = dict(seed=0, diff_rank_seed=False, deterministic=False)
