"""Training engine: runner, loops, samplers, hooks, AMP, checkpoint helpers and the work-dir
lock."""
from .amp_optim_wrapper import AmpOptimWrapper
from .channels_last import enable_channels_last
from .checkpoint import (
                         ATOMIC_LOCAL_BACKEND,
                         AtomicLocalBackend,
                         find_latest_checkpoint,
                         get_rng_states,
                         is_valid_checkpoint,
                         list_checkpoints,
                         save_checkpoint_atomic,
                         set_rng_states,
                         write_text_atomic,
)
from .hooks import (
                         AtomicCheckpointHook,
                         LossSpikeError,
                         LossSpikeHook,
                         NonFiniteLossError,
                         NonFiniteLossHook,
                         PreemptionCheckpointHook,
                         ResumeStateHook,
)
from .loops import FastResumeEpochBasedTrainLoop, FastResumeIterBasedTrainLoop
from .runner import Runner
from .samplers import ImageGroupedSampler, ResumableDefaultSampler, ResumableInfiniteSampler
from .work_dir_lock import WorkDirInUseError, WorkDirLock

__all__ = [
    'ATOMIC_LOCAL_BACKEND', 'AmpOptimWrapper', 'AtomicCheckpointHook', 'AtomicLocalBackend',
    'FastResumeEpochBasedTrainLoop', 'FastResumeIterBasedTrainLoop', 'ImageGroupedSampler',
    'LossSpikeError', 'LossSpikeHook', 'NonFiniteLossError', 'NonFiniteLossHook',
    'PreemptionCheckpointHook', 'ResumableDefaultSampler', 'ResumableInfiniteSampler',
    'ResumeStateHook', 'Runner',
    'WorkDirInUseError', 'WorkDirLock', 'enable_channels_last', 'find_latest_checkpoint',
    'get_rng_states', 'is_valid_checkpoint', 'list_checkpoints',
    'save_checkpoint_atomic', 'set_rng_states', 'write_text_atomic',
]
