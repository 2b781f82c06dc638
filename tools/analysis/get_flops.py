"""Print parameters and GFLOPs of a config's model with the official HRNet convention.

    python tools/analysis/get_flops.py CONFIG --shape H W [--cfg-options k=v ...] [--debug]

GFLOPs are multiply-adds of convs and linears divided by 1024**3 (the official tables); the
1e9 figure is printed beside it. The model is counted in ``mode='tensor'`` (no test-time
augmentation, no data preprocessing).
"""
from __future__ import annotations

import json
import sys

from hrnet_train.config import CfgOptionsAction, load_config, merge_cfg_options, validate_config
from hrnet_train.engine.launch import ToolArgumentParser, run_tool
from hrnet_train.utils import register_all_modules
from hrnet_train.utils.complexity import config_complexity


def main(argv: list[str] | None = None) -> int:
    parser = ToolArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), default=None,
                        help='input height and width (default: the config\'s codec input size, '
                             'else 256 192)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction, default=None)
    parser.add_argument('--json', action='store_true', help='print one JSON line')
    parser.add_argument('--device', default='meta',
                        help="'meta' (default: counts from shapes, no compute) or 'cpu'")
    args = parser.parse_args(argv)
    register_all_modules()
    cfg = load_config(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    validate_config(cfg)
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
    sys.exit(run_tool(main))
