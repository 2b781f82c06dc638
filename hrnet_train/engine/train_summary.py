"""The few lines ``tools/train.py`` prints when training ends."""
from __future__ import annotations

from typing import Optional


def _checkpoint_hook(runner):
    from mmengine.hooks import CheckpointHook
    return next((h for h in runner.hooks if isinstance(h, CheckpointHook)), None)


def train_summary(runner, wall_time_s: float) -> list[str]:
    """Best metric and its checkpoint, last checkpoint, wall time and the visualisation folders.

    Reads what mmengine's ``CheckpointHook`` records in ``runner.message_hub``: ``last_ckpt``,
    and per ``save_best`` key ``best_score`` / ``best_ckpt`` (one key) or ``best_score_<key>`` /
    ``best_ckpt_<key>`` (several; mmengine 0.10.7 ``hooks/checkpoint_hook.py``), and the
    ``last_out_dir`` of the hooks that write prediction images (``EvalImageHook`` subclasses,
    ``PoseVisualizationHook``).

    Args:
        runner: the runner after ``runner.train()``.
        wall_time_s: seconds the training took.

    Returns:
        the lines, without newlines, e.g. ``['best coco/AP: 0.7312 (epoch_210.pth ...)', ...]``.
    """
    hub = runner.message_hub
    lines = []
    hook = _checkpoint_hook(runner)
    keys = list(getattr(hook, 'key_indicators', None) or []) if hook is not None else []
    for key in keys:
        suffix = '' if len(keys) == 1 else f'_{key}'
        score: Optional[float] = hub.get_info(f'best_score{suffix}')
        path = hub.get_info(f'best_ckpt{suffix}')
        if score is None:
            lines.append(f'best {key}: not evaluated')
        else:
            lines.append(f'best {key}: {float(score):.4f} ({path or "no checkpoint"})')
    last = hub.get_info('last_ckpt')
    lines.append(f'last checkpoint: {last or "none written"}')
    minutes, seconds = divmod(int(round(wall_time_s)), 60)
    hours, minutes = divmod(minutes, 60)
    lines.append(f'wall time: {hours:d}:{minutes:02d}:{seconds:02d}')
    vis = sorted({h.last_out_dir for h in runner.hooks if getattr(h, 'last_out_dir', None)})
    lines.append(f'visualisations: {", ".join(vis)}' if vis else 'visualisations: none written')
    return lines
