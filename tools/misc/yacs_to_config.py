"""Convert an official HRNet yacs YAML experiment file into an hrnet-train Python config.

    python tools/misc/yacs_to_config.py IN.yaml OUT.py [--data-root DIR]

Writes ``yacs_to_config(IN).dump(OUT)`` and prints what the experiment became. Settings the
converted config does not honour are printed as warnings. A file that cannot be converted is
reported as one line ``error: ...`` with exit code 2 (``--debug`` shows the traceback). See
docs/yacs_import.md.
"""
from __future__ import annotations

import sys
import warnings

from mmengine.config import Config

from hrnet_train.config.yacs_import import YacsImportWarning, yacs_to_config
from hrnet_train.engine.launch import ToolArgumentParser, run_tool


def _summary(cfg: Config) -> list[str]:
    model = cfg.model
    stages = model.backbone.extra
    widths = list(stages['stage4']['num_channels'])
    train = cfg.train_dataloader
    optim = cfg.optim_wrapper.optimizer
    opt = ', '.join(f'{k} {v}' for k, v in optim.items() if k != 'type')
    total = cfg.auto_scale_lr.base_batch_size
    init = model.backbone.init_cfg
    lines = [f'model      {model.type}: HRNet stage-4 widths {widths}, '
             f"init {init['checkpoint'] if init else 'random'}"]
    if model.type == 'TopdownPoseEstimator':
        codec = model.codec
        val = cfg.val_dataloader.dataset
        lines += [
            f'task       pose: {model.head.num_keypoints} keypoints, input (w, h) '
            f'{tuple(codec.input_size)}, heatmap {tuple(codec.heatmap_size)}, sigma {codec.sigma}',
            f'schedule   {optim.type} ({opt}), MultiStepLR {cfg.param_scheduler[0].milestones} '
            f'x{cfg.param_scheduler[0].gamma}, {cfg.train_cfg.max_epochs} epochs',
            f'test       flip {model.test_cfg.flip_test}, shift {model.test_cfg.shift_heatmap}, '
            f"boxes {'ground truth' if val.use_gt_bbox else val.bbox_file}, "
            f'OKS-NMS {cfg.val_evaluator.nms_thr}, keypoint score thr '
            f'{cfg.val_evaluator.keypoint_score_thr}',
        ]
        if val.use_gt_bbox:
            lines.append('           (the README numbers use detector boxes: --cfg-options '
                         'val_dataloader.dataset.use_gt_bbox=False '
                         'test_dataloader.dataset.use_gt_bbox=False)')
    else:
        loss = model.loss
        lines += [
            f'task       segmentation: {model.decode_head.num_classes} classes, loss {loss.type}'
            + (f' (thresh {loss.thresh}, min_kept {loss.min_kept})'
               if loss.type == 'OhemCrossEntropyLoss' else ''),
            f'schedule   {optim.type} ({opt}), PolyLR power {cfg.param_scheduler[0].power}, '
            f'{cfg.train_cfg.max_iters} iterations',
            f'test       {dict(model.test_cfg)}',
        ]
    lines += [f'data       {train.dataset.type} at {cfg.data_root}; batch '
              f'{train.batch_size}/GPU, {total} in total (auto_scale_lr base), '
              f'{train.num_workers} workers/GPU',
              f"resume     {cfg.resume!r} ('auto': continue from the work dir's latest "
              'checkpoint)']
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = ToolArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('input', help='official yacs experiment file (.yaml)')
    parser.add_argument('output', help='Python config to write (.py)')
    parser.add_argument('--data-root', default=None,
                        help="replaces the YAML's DATASET.ROOT (pose: folder with annotations/ "
                        'and images/; seg: folder with cityscapes/ and list/)')
    args = parser.parse_args(argv)
    if not args.output.endswith('.py'):
        parser.error(f'OUT must end in .py, got {args.output}')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', YacsImportWarning)
        cfg = yacs_to_config(args.input, data_root=args.data_root)
    cfg.dump(args.output)
    print(f'{args.input} -> {args.output}')
    for line in _summary(cfg):
        print('  ' + line)
    for w in caught:
        if issubclass(w.category, YacsImportWarning):
            print(f'warning: {w.message}', file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main))
