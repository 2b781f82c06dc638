"""Training engine: runner, loops, samplers, hooks, AMP and checkpoint helpers."""
from .amp_optim_wrapper import AmpOptimWrapper
from .channels_last import enable_channels_last
from .checkpoint import (find_latest_checkpoint, get_rng_states, is_valid_checkpoint,
                         list_checkpoints, save_checkpoint_atomic, set_rng_states,
                         write_text_atomic)
from .hooks import (AtomicCheckpointHook, NonFiniteLossError, NonFiniteLossHook,
                    PreemptionCheckpointHook)
from .loops import FastResumeEpochBasedTrainLoop, FastResumeIterBasedTrainLoop
from .runner import Runner, load_checkpoint_file
from .samplers import ResumableDefaultSampler, ResumableInfiniteSampler

__all__ = [
    'AmpOptimWrapper', 'AtomicCheckpointHook', 'FastResumeEpochBasedTrainLoop',
    'FastResumeIterBasedTrainLoop', 'NonFiniteLossError', 'NonFiniteLossHook',
    'PreemptionCheckpointHook', 'ResumableDefaultSampler', 'ResumableInfiniteSampler', 'Runner',
    'enable_channels_last', 'find_latest_checkpoint', 'get_rng_states', 'is_valid_checkpoint',
    'list_checkpoints', 'load_checkpoint_file', 'save_checkpoint_atomic', 'set_rng_states',
    'write_text_atomic',
]
