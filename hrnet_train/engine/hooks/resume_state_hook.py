"""RNG states and the train sampler's seed: into every checkpoint, back on resume."""
from __future__ import annotations

from typing import Any, Optional

from mmengine.hooks import Hook
from mmengine.runner.base_loop import BaseLoop

from hrnet_train.registry import HOOKS

from ..checkpoint import get_rng_states, set_rng_states


def _train_sampler(runner):
    loop = runner._train_loop  # the property would build a loop that is still a config
    if not isinstance(loop, BaseLoop):
        return None
    return getattr(getattr(loop, 'dataloader', None), 'sampler', None)


@HOOKS.register_module()
class ResumeStateHook(Hook):
    """Save and restore what an exact resume needs beyond mmengine's checkpoint.

    - ``before_save_checkpoint``: ``checkpoint['rng_states']`` (Python, numpy, torch CPU and
      CUDA; :func:`~hrnet_train.engine.checkpoint.get_rng_states`) and
      ``checkpoint['meta']['sampler_seed']`` (the seed of the train sampler, which differs from
      the config's when ``randomness.seed=None`` or ``diff_rank_seed=True`` drew one).
    - ``after_load_checkpoint``: keeps both; ``before_train`` restores them when the run resumed
      from that checkpoint (the loop's iteration and epoch are the checkpoint's; a ``load_from``
      of weights leaves them at 0). Restoring there and not at load time matters: mmengine's
      ``resume`` re-seeds every generator after loading when the checkpoint's seed differs from
      the config's, and nothing between ``before_train`` and the first batch draws numbers.
    - ``before_val`` / ``after_val``: the states are saved and put back around each validation,
      so evaluating during training does not shift the training's random streams, and a
      checkpoint written during a validation holds the states the training continues with. A run
      resumed from a checkpoint written at a validation thus draws what the uninterrupted run drew.

    Priority ``LOWEST``: in ``before_train`` it runs after every other hook.
    """

    priority = 'LOWEST'

    def __init__(self) -> None:
        self._loaded: Optional[dict[str, Any]] = None
        self._val_states: Optional[dict[str, Any]] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # During a validation (mmengine saves the best checkpoint and re-saves the last one in
        # after_val_epoch) the training continues from the states saved before it.
        states = self._val_states if self._val_states is not None else get_rng_states()
        checkpoint['rng_states'] = states
        seed = getattr(_train_sampler(runner), 'seed', None)
        if isinstance(seed, int):
            checkpoint.setdefault('meta', {})['sampler_seed'] = seed

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta') or {}
        self._loaded = dict(iter=meta.get('iter'), epoch=meta.get('epoch'),
                            sampler_seed=meta.get('sampler_seed'),
                            rng_states=checkpoint.get('rng_states'))

    def before_train(self, runner) -> None:
        loaded, self._loaded = self._loaded, None
        if (loaded is None or not loaded['iter'] or loaded['iter'] != runner.iter
                or loaded['epoch'] != runner.epoch):
            return  # nothing loaded, or weights only (load_from): a fresh start
        sampler = _train_sampler(runner)
        seed = loaded['sampler_seed']
        if seed is not None and sampler is not None and getattr(sampler, 'seed', seed) != seed:
            runner.logger.info(f'train sampler seed {sampler.seed} -> {seed} (from the checkpoint)')
            sampler.seed = seed
        if loaded['rng_states'] is None:
            runner.logger.warning(
                f'the checkpoint of iteration {runner.iter} has no rng_states; random '
                'augmentation after resume will differ from an uninterrupted run')
            return
        set_rng_states(loaded['rng_states'])

    def before_val(self, runner) -> None:
        self._val_states = get_rng_states()

    def after_val(self, runner) -> None:
        if self._val_states is not None:
            set_rng_states(self._val_states)
            self._val_states = None
