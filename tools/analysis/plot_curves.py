"""Plot the training curves of a work dir: losses, lr and validation metrics against iterations.

    python tools/analysis/plot_curves.py WORK_DIR [--out curves.png] [--run TIMESTAMP]
        [--keys KEY ...] [--val-step auto|epoch|iter] [--title TEXT]

Reads mmengine's JSON scalars log ``WORK_DIR/<timestamp>/vis_data/scalars.json`` of the latest
run (``--run`` picks another; WORK_DIR may also be a run dir or the file itself) and writes one PNG
with a panel per group: ``loss`` (every ``loss*`` key), ``lr``, and ``validation`` (every metric
of the validation lines, drawn with markers); ``--keys`` plots only the named keys, and training
scalars such as ``acc_pose`` then get a ``training`` panel. Validation lines of epoch-based runs
are placed at the last iteration of their epoch (see ``hrnet_train/visualization/curves.py``).
"""
from __future__ import annotations

import os.path as osp
import sys

from hrnet_train.engine.launch import ToolArgumentParser, run_tool
from hrnet_train.visualization.curves import (
    find_scalars_log,
    plot_panels,
    read_scalars,
    select_panels,
)


def main(argv: list[str] | None = None) -> int:
    parser = ToolArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dir')
    parser.add_argument('--out', default='curves.png', help='PNG to write (default curves.png)')
    parser.add_argument('--run', default=None, help='timestamp of the run (default: the latest)')
    parser.add_argument('--keys', nargs='+', default=None, help='plot only these keys')
    parser.add_argument('--val-step', choices=('auto', 'epoch', 'iter'), default='auto',
                        help="what a validation line's step counts (default: 'epoch' when the "
                             "training lines carry 'epoch')")
    parser.add_argument('--title', default=None,
                        help='figure title (default: the run dir; "" for none)')
    args = parser.parse_args(argv)
    path = find_scalars_log(args.work_dir, args.run)
    log = read_scalars(path, val_step=args.val_step)
    panels = select_panels(log, args.keys)
    title = args.title if args.title is not None else osp.dirname(osp.dirname(path))
    w, h = plot_panels(panels, args.out, title)
    n = sum(len(s.x) for p in panels for s in p.series)
    print(f'{path}: {len(panels)} panels ({", ".join(p.title for p in panels)}), {n} points '
          f'-> {args.out} ({w}x{h} px)')
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main))
