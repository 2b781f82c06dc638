"""Export a trained model to ONNX with pre-processing and decoding inside the graph.

Usage::

    python tools/deploy/export_onnx.py CONFIG CHECKPOINT --out model.onnx [--dynamic-batch]
        [--opset N] [--flip-test] [--probs] [--topk K] [--input-size W H] [--no-fuse-bn]
        [--score-thr T] [--max-per-img N]

The ONNX input is ``image`` (B, 3, H, W) float32 RGB 0..255; the outputs depend on the task
(pose ``keypoints``/``scores``, seg ``labels`` [+ ``probs``], cls ``topk_indices``/
``topk_scores``, det ``boxes``/``scores``/``labels``): see docs/deploy.md. A mistake is reported
as one line ``error: ...`` with exit code 2 (``--debug`` shows the traceback).
"""
from __future__ import annotations

from hrnet_train.engine.launch import ToolArgumentParser, exit_process, run_tool


def parse_args(argv):
    p = ToolArgumentParser(description='Export a model to ONNX (hrnet-train)')
    p.add_argument('config', help='Python config of the model')
    p.add_argument('checkpoint', help='checkpoint trained with that config')
    p.add_argument('--out', required=True, help='output .onnx file')
    p.add_argument('--dynamic-batch', action='store_true', help='dynamic batch axis')
    p.add_argument('--opset', type=int, default=17, help='ONNX opset (default 17)')
    p.add_argument('--flip-test', action='store_true',
                   help='pose: average with the flipped crop in the graph')
    p.add_argument('--probs', action='store_true', help='seg: also output probs (B, C, H, W)')
    p.add_argument('--topk', type=int, default=5, help='cls: k (default 5, at most C)')
    p.add_argument('--input-size', type=int, nargs=2, metavar=('W', 'H'),
                   help='input width and height (default: codec input size / test pipeline)')
    p.add_argument('--no-fuse-bn', action='store_true', help='keep the BatchNorm layers')
    p.add_argument('--score-thr', type=float, default=0.05, help='det: score threshold')
    p.add_argument('--max-per-img', type=int, default=100, help='det: boxes kept')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from hrnet_train.apis import init_model
    from hrnet_train.config import load_config
    from hrnet_train.deploy.export import (
        check_checkpoint_task,
        default_input_size,
        export_onnx,
    )
    from hrnet_train.models.utils import read_checkpoint
    from hrnet_train.models.utils.official_weights import unwrap_state_dict
    from hrnet_train.registry import MODELS
    from hrnet_train.utils import register_all_modules
    from hrnet_train.utils.errors import import_optional

    import_optional('onnx', 'ONNX export', 'export')  # before minutes of model loading
    register_all_modules()
    cfg = load_config(args.config)
    model_cfg = cfg.model.copy()
    if 'backbone' in model_cfg:
        model_cfg.backbone.pop('init_cfg', None)
    probe = MODELS.build(model_cfg)  # to name the task before a strict load fails obscurely
    state = unwrap_state_dict(read_checkpoint(args.checkpoint), source=args.checkpoint)
    check_checkpoint_task(probe, state, source=args.checkpoint)
    model = init_model(cfg, args.checkpoint)
    w, h = args.input_size or default_input_size(cfg, model)
    export_onnx(model, args.out, input_shape=(h, w), dynamic_batch=args.dynamic_batch,
                opset=args.opset, flip_test=args.flip_test, with_probs=args.probs,
                topk=args.topk, fuse_bn=not args.no_fuse_bn, score_thr=args.score_thr,
                max_per_img=args.max_per_img)
    print(f'wrote {args.out} (input image 1x3x{h}x{w}'
          f'{", dynamic batch" if args.dynamic_batch else ""})')
    return 0


if __name__ == '__main__':
    exit_process(run_tool(main))
