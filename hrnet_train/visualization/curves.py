"""Training curves from mmengine's JSON scalars log (``tools/analysis/plot_curves.py``).

mmengine's ``LoggerHook`` appends one JSON object per line to
``<work_dir>/<timestamp>/vis_data/scalars.json`` (mmengine 0.10.7 ``hooks/logger_hook.py``,
``runner/log_processor.py``):

- a **training** line every ``interval`` iterations and at the last iteration of every epoch:
  ``lr``, ``loss*``, other training scalars (``acc_pose``, ...), ``time``, ``data_time``,
  ``iter`` (global, 1-based) and ``step`` (= ``iter``); epoch-based loops also write ``epoch``.
- a **validation** line after every evaluation: the metric keys (``coco/AP``, ``mIoU``, ...),
  ``time``, ``data_time`` and ``step``, which is the *epoch* when ``log_metric_by_epoch`` (the
  default, used by our epoch-based configs) and the *iteration* otherwise. It has no ``iter``.

Everything here is plotted against the iteration; a validation line of an epoch-based run is placed
at the last training iteration logged in that epoch, which is the epoch's end because mmengine
always logs the last iteration of an epoch.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from hrnet_train.utils.errors import DataError

SCALARS_FILE = osp.join('vis_data', 'scalars.json')
# Bookkeeping keys, never plotted.
META_KEYS = frozenset({'iter', 'step', 'epoch', 'time', 'data_time', 'memory', 'eta'})
_RUN_DIR = re.compile(r'^\d{8}_\d{6}$')  # mmengine's timestamp, e.g. 20261201_132926


@dataclass
class Series:
    """One scalar against the iteration: ``x`` (iterations) and ``y`` have the same length."""

    key: str
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)


@dataclass
class ScalarLog:
    """A parsed scalars log.

    Attributes:
        train: training scalars by key (``lr``, ``loss``, ``loss_kpt``, ``acc_pose`` ...).
        val: validation metrics by key, x already converted to iterations.
        val_step: ``'epoch'`` or ``'iter'``: what the validation lines' ``step`` meant.
        source: the file (or name) the lines came from, for messages.
    """

    train: dict[str, Series]
    val: dict[str, Series]
    val_step: str
    source: str = 'scalars.json'


@dataclass
class Panel:
    """One subplot: a title, a y label and its series; ``markers`` for sparse (validation) data."""

    title: str
    series: list[Series]
    markers: bool = False


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def parse_scalars(lines: Iterable[str], source: str = 'scalars.json',
                  val_step: str = 'auto') -> ScalarLog:
    """Split a scalars log into training and validation series against the iteration.

    Args:
        lines: the file's lines (blank lines are skipped).
        source: name used in error messages.
        val_step: what a validation line's ``step`` counts: ``'epoch'``, ``'iter'``, or
            ``'auto'`` (``'epoch'`` when the training lines carry ``epoch``, i.e. the
            log processor ran ``by_epoch``; our iteration-based configs set both it and
            ``log_metric_by_epoch`` to False).

    Returns:
        :class:`ScalarLog`. A training line is one with ``iter``; any other line with ``step`` is
        a validation line. Non-numeric values and :data:`META_KEYS` are left out.

    Raises:
        DataError: a line that is not a JSON object, or a line with neither ``iter`` nor
            ``step``.
    """
    if val_step not in ('auto', 'epoch', 'iter'):
        raise ValueError(f"val_step must be 'auto', 'epoch' or 'iter', got {val_step!r}")
    train: dict[str, Series] = {}
    val_rows: list[tuple[float, dict]] = []
    epoch_end: dict[int, float] = {}  # epoch -> last logged training iteration in it
    train_iters: list[tuple[float, Optional[int]]] = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f'{source}:{lineno}: not a JSON line ({exc.msg})') from None
        if not isinstance(row, dict):
            raise DataError(f'{source}:{lineno}: expected a JSON object, got '
                            f'{type(row).__name__}')
        if 'iter' in row:
            it = float(row['iter'])
            epoch = row.get('epoch')
            train_iters.append((it, epoch))
            if _is_number(epoch):
                epoch_end[int(epoch)] = max(it, epoch_end.get(int(epoch), it))
            for k, v in row.items():
                if k not in META_KEYS and _is_number(v):
                    s = train.setdefault(k, Series(k))
                    s.x.append(it)
                    s.y.append(float(v))
        elif 'step' in row:
            val_rows.append((float(row['step']), row))
        else:
            raise DataError(f"{source}:{lineno}: a line with neither 'iter' (training) nor "
                            f"'step' (validation): keys {sorted(row)}")
    if val_step == 'auto':
        val_step = 'epoch' if epoch_end else 'iter'
    val: dict[str, Series] = {}
    for step, row in val_rows:
        x = _epoch_to_iter(step, epoch_end, train_iters) if val_step == 'epoch' else step
        for k, v in row.items():
            if k not in META_KEYS and _is_number(v):
                s = val.setdefault(k, Series(k))
                s.x.append(x)
                s.y.append(float(v))
    return ScalarLog(train=train, val=val, val_step=val_step, source=source)


def _epoch_to_iter(epoch: float, epoch_end: dict[int, float],
                   train_iters: list[tuple[float, Optional[int]]]) -> float:
    """Last training iteration logged in ``epoch``; without one, the last logged before it."""
    e = int(epoch)
    if e in epoch_end:
        return epoch_end[e]
    before = [it for it, ep in train_iters if _is_number(ep) and ep <= e]
    return max(before) if before else 0.0


def read_scalars(path: str, val_step: str = 'auto') -> ScalarLog:
    """:func:`parse_scalars` of the file ``path``."""
    with open(path, encoding='utf-8') as f:
        return parse_scalars(f, source=path, val_step=val_step)


def find_scalars_log(work_dir: str, run: Optional[str] = None) -> str:
    """The scalars log of one run of ``work_dir``.

    Args:
        work_dir: a training work dir (holding ``<timestamp>/vis_data/scalars.json``), a run dir
            (``<work_dir>/<timestamp>``) or the ``scalars.json`` file itself.
        run: the timestamp to use; default the latest run that has a scalars log.

    Raises:
        DataError: no such directory, no run with a scalars log, or ``run`` not among them.
    """
    if osp.isfile(work_dir):
        return work_dir
    if not osp.isdir(work_dir):
        raise DataError(f'{work_dir}: no such work dir')
    if run is None and osp.isfile(osp.join(work_dir, SCALARS_FILE)):
        return osp.join(work_dir, SCALARS_FILE)
    runs = sorted(d for d in os.listdir(work_dir)
                  if _RUN_DIR.match(d) and osp.isfile(osp.join(work_dir, d, SCALARS_FILE)))
    if run is not None:
        if run not in runs:
            have = ', '.join(runs) if runs else 'none'
            raise DataError(f'{work_dir}: no run {run!r} with {SCALARS_FILE} (runs with one: '
                            f'{have})')
        return osp.join(work_dir, run, SCALARS_FILE)
    if not runs:
        raise DataError(f'{work_dir}: no scalars log (expected <timestamp>/{SCALARS_FILE}, '
                        'written by mmengine\'s LoggerHook during training)')
    return osp.join(work_dir, runs[-1], SCALARS_FILE)


def _default_panel(key: str, split: str) -> str:
    if split == 'val':
        return 'validation'
    if key.startswith('loss'):
        return 'loss'
    if key == 'lr' or key.endswith('lr'):
        return 'lr'
    return 'training'


def select_panels(log: ScalarLog, keys: Optional[Sequence[str]] = None) -> list[Panel]:
    """Group the series of ``log`` into panels: ``loss`` (``loss*``), ``lr``, ``validation``.

    Args:
        log: a parsed log.
        keys: plot only these keys (training or validation); other training scalars
            (``acc_pose``, ``grad_norm``) then get a ``training`` panel. Default: every ``loss*``
            key, ``lr`` and every validation metric.

    Raises:
        DataError: a requested key is not in the log, or nothing is left to plot.
    """
    chosen: list[tuple[str, Series]] = []
    if keys:
        for k in keys:
            if k in log.train:
                chosen.append((_default_panel(k, 'train'), log.train[k]))
            elif k in log.val:
                chosen.append(('validation', log.val[k]))
            else:
                have = ', '.join(list(log.train) + list(log.val)) or 'none'
                raise DataError(f'{log.source}: no key {k!r} (keys: {have})')
    else:
        chosen = [(p, s) for s in log.train.values()
                  if (p := _default_panel(s.key, 'train')) != 'training']
        chosen += [('validation', s) for s in log.val.values()]
    order = ('loss', 'lr', 'training', 'validation')
    panels = [Panel(title, [s for p, s in chosen if p == title], markers=title == 'validation')
              for title in order]
    panels = [p for p in panels if p.series]
    if not panels:
        raise DataError(f'{log.source}: nothing to plot (no loss*, lr or validation metric key)')
    return panels


def plot_panels(panels: Sequence[Panel], out: str, title: str = '', *,
                panel_size: tuple[float, float] = (4.0, 3.0), dpi: int = 100) -> tuple[int, int]:
    """Write the panels side by side to the PNG ``out`` (matplotlib, Agg backend).

    Returns:
        (width, height) of the image in pixels: ``len(panels) * panel_size[0] * dpi`` by
        ``panel_size[1] * dpi``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    w, h = panel_size
    # One shared iteration axis: a validation panel with a single point keeps the training range.
    fig, axes = plt.subplots(1, len(panels), figsize=(w * len(panels), h), dpi=dpi,
                             squeeze=False, sharex=True)
    try:
        for ax, panel in zip(axes[0], panels):
            for s in panel.series:
                ax.plot(s.x, s.y, marker='o' if panel.markers else None,
                        markersize=4, linewidth=1.2, label=s.key)
            ax.set_title(panel.title, fontsize=10)
            ax.set_xlabel('iteration', fontsize=9)
            ax.tick_params(labelsize=8)
            ax.grid(True, alpha=0.3)
            if panel.title == 'lr':
                ax.ticklabel_format(axis='y', style='sci', scilimits=(-2, 2))
            ax.legend(fontsize=6 if len(panel.series) > 4 else 8,
                      ncol=2 if len(panel.series) > 5 else 1)
        if title:
            fig.suptitle(title, fontsize=9)
        fig.tight_layout()
        os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
        fig.savefig(out, dpi=dpi)
    finally:
        plt.close(fig)
    return int(round(w * len(panels) * dpi)), int(round(h * dpi))
