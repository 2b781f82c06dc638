"""Print parameters and GFLOPs of a config's model with the official HRNet convention.

    python tools/analysis/get_flops.py CONFIG --shape H W [--cfg-options k=v ...]

GFLOPs are multiply-adds of convs and linears divided by 1024**3 (the official tables); the
1e9 figure is printed beside it. The model is counted in ``mode='tensor'`` (no test-time
augmentation, no data preprocessing).
"""
from __future__ import annotations

import argparse
import json
import sys

from mmengine.config import Config, DictAction

from hrnet_train.utils.complexity import config_complexity


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), default=None,
                        help='input height and width (default: the config\'s codec input size, '
                             'else 256 192)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default=None)
    parser.add_argument('--json', action='store_true', help='print one JSON line')
    parser.add_argument('--device', default='meta',
                        help="'meta' (default: counts from shapes, no compute) or 'cpu'")
    args = parser.parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.shape is None:
        w, h = cfg.get('input_size', (192, 256))
        args.shape = [h, w]
    c = config_complexity(cfg, tuple(args.shape), device=args.device)
    result = dict(config=args.config, input_shape=list(args.shape), params=c.params,
                  params_M=round(c.mparams, 2), gflops=round(c.gflops, 2),
                  gflops_1e9=round(c.gflops_1e9, 2))
    if args.json:
        print(json.dumps(result))
    else:
        print(f'config       {args.config}')
        print(f'input shape  1 x 3 x {args.shape[0]} x {args.shape[1]}')
        print(f'params       {c.params:,} ({c.mparams:.1f}M)')
        print(f'GFLOPs       {c.gflops:.2f} (official: multiply-adds / 1024^3; '
              f'{c.gflops_1e9:.2f} with / 1e9)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
