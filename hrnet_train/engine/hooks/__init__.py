"""Training hooks."""
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .dataset_meta_check_hook import DatasetMetaCheckHook
from .loss_spike_hook import LossSpikeError, LossSpikeHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .preemption_checkpoint_hook import PreemptionCheckpointHook
from .progress_bar_hook import EvalProgressBarHook
from .resume_state_hook import ResumeStateHook

__all__ = ['AtomicCheckpointHook', 'DatasetMetaCheckHook', 'EvalProgressBarHook',
           'LossSpikeError', 'LossSpikeHook', 'NonFiniteLossError', 'NonFiniteLossHook',
           'PreemptionCheckpointHook', 'ResumeStateHook']
