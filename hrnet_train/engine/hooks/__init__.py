"""Training hooks."""
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .preemption_checkpoint_hook import PreemptionCheckpointHook
from .progress_bar_hook import EvalProgressBarHook

__all__ = ['AtomicCheckpointHook', 'EvalProgressBarHook', 'NonFiniteLossError', 'NonFiniteLossHook',
           'PreemptionCheckpointHook']
