"""Run a trained model on images or a video and write the drawn predictions and their JSON.

Usage::

    python tools/demo.py CONFIG CHECKPOINT INPUT --out-dir DIR [--device cpu]
        [--cfg-options k=v ...] [--score-thr 0.3] [--topk 5] [--batch-size 8]
        # top-down pose only, one person-box source:
        [--det-file dets.json | --det-config DET_CFG --det-checkpoint DET_CKPT | --whole-image
         | --bboxes x1 y1 x2 y2 ...] [--det-score-thr 0.5] [--kpt-thr 0.3]

INPUT is an image file, a folder (its image files, sorted, not recursive), a glob pattern
(quote it) or a video file (.mp4, .avi, .mov, .mkv, .webm, .m4v, .mpg). The task follows from
the config's model: top-down pose, segmentation, detection or classification.

Per image ``<stem>.<ext>`` the tool writes ``DIR/<stem>.jpg`` (the drawing; ``.png`` for
segmentation) and ``DIR/<stem>.json`` (the predictions, :mod:`hrnet_train.apis.results`
``to_dict()``); segmentation also writes ``DIR/<stem>_labels.png``, the label map as a grey
image of class indices. Per video ``<stem>.<ext>``: ``DIR/<stem>.avi`` (MJPG) or ``.mp4`` (mp4v,
for .mp4/.m4v/.mov input) and one ``DIR/<stem>.json`` with an entry per frame. Repeated stems
get ``_1``, ``_2``... See docs/inference.md.
"""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
import sys
import time
from typing import Iterator, Optional

import cv2
import numpy as np
from mmengine.logging import MMLogger

from hrnet_train.engine.launch import ToolArgumentParser, add_speed_arguments, run_tool
from hrnet_train.utils.errors import DataError
from hrnet_train.visualization.names import UniqueNames

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff', '.ppm', '.pgm')
VIDEO_SUFFIXES = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg')
_MP4_SUFFIXES = ('.mp4', '.m4v', '.mov')
PERSON = 'person'


def parse_args(argv: Optional[list[str]] = None):
    from hrnet_train.config import CfgOptionsAction
    p = ToolArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('input', help='image, folder, glob pattern (quoted) or video file')
    p.add_argument('--out-dir', required=True, help='folder for the drawings and the JSON files')
    p.add_argument('--device', default='cpu')
    add_speed_arguments(p, test=True)
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                   help='override config entries of the model config, key=value')
    p.add_argument('--batch-size', type=int, default=8,
                   help='images (pose: people) per forward')
    p.add_argument('--score-thr', type=float, default=0.3,
                   help='detection: draw and keep boxes scoring at least this')
    p.add_argument('--topk', type=int, default=5, help='classification: classes per image')
    p.add_argument('--alpha', type=float, default=0.5, help='segmentation: mask opacity')
    pose = p.add_argument_group('top-down pose: where the person boxes come from (one of)')
    pose.add_argument('--det-file', help='COCO detection results JSON (image_id, bbox xywh, '
                      'score, category_id); image_id matched to the number in the image file '
                      'name (000000196141.jpg -> 196141; for a video: the 0-based frame index), '
                      'or an entry\'s "file_name" matched to the file name')
    pose.add_argument('--det-config', help='detector config (two-stage pipeline)')
    pose.add_argument('--det-checkpoint', help='detector checkpoint')
    pose.add_argument('--whole-image', action='store_true', help='one box: the whole image')
    pose.add_argument('--bboxes', type=float, nargs='+', metavar='X',
                      help='x1 y1 x2 y2 [x1 y1 x2 y2 ...]: the same boxes for every image')
    pose.add_argument('--det-score-thr', type=float, default=0.5,
                      help='keep person boxes (from --det-file or the detector) scoring >= this')
    pose.add_argument('--det-cat-id', type=int, default=1,
                      help='--det-file: category_id of persons (COCO: 1); -1 keeps every entry')
    pose.add_argument('--kpt-thr', type=float, default=0.3, help='draw keypoints above this')
    args = p.parse_args(argv)
    return p, args


# ------------------------------------------------------------------------------ inputs
def _is_video(path: str) -> bool:
    return osp.splitext(path)[1].lower() in VIDEO_SUFFIXES


def list_inputs(spec: str) -> tuple[str, list[str]]:
    """('video', [path]) or ('images', sorted paths) for an image, folder, glob or video."""
    if osp.isdir(spec):
        files = sorted(osp.join(spec, f) for f in os.listdir(spec)
                       if osp.splitext(f)[1].lower() in IMAGE_SUFFIXES
                       and osp.isfile(osp.join(spec, f)))
        if not files:
            raise DataError(f'input folder {spec} has no image files ({", ".join(IMAGE_SUFFIXES)})')
        return 'images', files
    if osp.isfile(spec):
        return ('video' if _is_video(spec) else 'images'), [spec]
    if glob.has_magic(spec):
        files = sorted(f for f in glob.glob(spec) if osp.isfile(f) and not _is_video(f))
        if not files:
            raise DataError(f'input pattern {spec} matches no image files')
        return 'images', files
    raise DataError(f'input not found: {spec} (expected an image, a folder, a glob pattern or '
                    'a video file)')


def _read_video(path: str) -> tuple[cv2.VideoCapture, float, int]:
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise DataError(f'could not open video file {path} (not a video, or no codec for it)')
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    return cap, float(fps), int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)


def _frames(cap: cv2.VideoCapture) -> Iterator[np.ndarray]:
    while True:
        ok, frame = cap.read()
        if not ok:
            return
        yield frame  # BGR


def _stem(path: str) -> str:
    """File name without folder and extension: the stem of its output files."""
    return osp.splitext(osp.basename(path))[0]


# ------------------------------------------------------------------------------ person boxes
def _image_key(path: str) -> Optional[int]:
    stem = osp.splitext(osp.basename(path))[0]
    digits = stem.rsplit('_', 1)[-1]
    return int(digits) if digits.isdigit() else None


class DetFileBoxes:
    """Person boxes of a COCO detection results file, per image file name or image id."""

    def __init__(self, path: str, *, score_thr: float, cat_id: int) -> None:
        if not osp.isfile(path):
            raise FileNotFoundError(f'--det-file {path}: file not found')
        try:
            with open(path) as f:
                dets = json.load(f)
        except json.JSONDecodeError as exc:
            raise DataError(f'--det-file {path}: not JSON ({exc})') from None
        if not isinstance(dets, list) or not all(isinstance(d, dict) and 'bbox' in d and
                                                 ('image_id' in d or 'file_name' in d)
                                                 for d in dets):
            raise DataError(f'--det-file {path}: expected a COCO results list of '
                            '{"image_id", "bbox": [x, y, w, h], "score"} entries')
        self.path = path
        self.by_id: dict = {}
        self.by_name: dict = {}
        for d in dets:
            if cat_id >= 0 and d.get('category_id', cat_id) != cat_id:
                continue
            if float(d.get('score', 1.0)) < score_thr:
                continue
            entry = (d['bbox'], float(d.get('score', 1.0)))
            if 'file_name' in d:
                self.by_name.setdefault(osp.basename(str(d['file_name'])), []).append(entry)
            if 'image_id' in d:
                self.by_id.setdefault(d['image_id'], []).append(entry)

    def boxes(self, path: str, frame: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
        """(B, 4) xyxy image pixels and (B,) scores for an image (or a video frame)."""
        if frame is not None:
            found = self.by_id.get(frame, [])
        elif osp.basename(path) in self.by_name:
            found = self.by_name[osp.basename(path)]
        else:
            found = self.by_id.get(_image_key(path), [])
        xywh = np.array([b for b, _ in found], np.float32).reshape(-1, 4)
        xywh[:, 2:] += xywh[:, :2]
        return xywh, np.array([s for _, s in found], np.float32)


# ------------------------------------------------------------------------------ drawing
def draw(task: str, img: np.ndarray, result, model, args) -> np.ndarray:
    """The drawing of one image's result; ``img`` and the return are (H, W, 3) uint8 RGB."""
    from hrnet_train.datasets.coco_detection import make_palette
    from hrnet_train.visualization import draw_detections, draw_legend, draw_pose, overlay
    meta = getattr(model, 'dataset_meta', {}) or {}
    if task == 'pose':
        if not result:
            return img
        img = draw_detections(img, np.stack([r.bbox for r in result]),
                              np.zeros(len(result), np.int64),
                              np.array([r.bbox_score for r in result]), (PERSON,),
                              score_thr=-np.inf, palette=[(0, 160, 255)])
        return draw_pose(img, np.stack([r.keypoints for r in result]),
                         np.stack([r.keypoint_scores for r in result]), meta.get('skeleton', ()),
                         score_thr=args.kpt_thr)
    if task == 'seg':
        names = result.class_names
        palette = meta.get('palette') or make_palette(len(names))
        drawn = overlay(img, result.label_map, palette, alpha=args.alpha)
        present = [i for i in result.class_pixels() if 0 <= i < len(names)]
        return draw_legend(drawn, [names[i] for i in present], [palette[i] for i in present])
    if task == 'det':
        return draw_detections(img, result.bboxes, result.labels, result.scores,
                               result.class_names, score_thr=-np.inf, palette=meta.get('palette'))
    return draw_legend(img, [f'{n} {s:.2f}' for n, s in zip(result.names, result.scores)])


def _keep(task: str, result, args):
    """Drop detections below --score-thr (the JSON holds what is drawn)."""
    if task != 'det':
        return result
    from hrnet_train.apis import DetResult
    keep = result.scores >= args.score_thr
    return DetResult(result.bboxes[keep], result.scores[keep], result.labels[keep],
                     result.class_names)


# ------------------------------------------------------------------------------ running
class Predictor:
    """The model (and for pose the box source) applied to a batch of RGB images."""

    def __init__(self, args, parser) -> None:
        from hrnet_train.apis import init_model, model_task
        self.args = args
        self.model = init_model(args.config, args.checkpoint, device=args.device,
                                cfg_options=args.cfg_options, fuse_bn=args.fuse_bn,
                                channels_last=args.channels_last, compile=args.compile)
        self.task = model_task(self.model)
        sources = [name for name, given in (
            ('--det-file', args.det_file), ('--det-config/--det-checkpoint',
                                            args.det_config or args.det_checkpoint),
            ('--whole-image', args.whole_image), ('--bboxes', args.bboxes)) if given]
        self.det_file = self.detector = None
        self.person_label = 0
        if self.task != 'pose':
            if sources:
                parser.error(f'{sources[0]} is for top-down pose configs; {args.config} is a '
                             f'{self.task} model')
            return
        if len(sources) != 1:
            parser.error('a top-down pose model needs exactly one person-box source: --det-file,'
                         ' --det-config with --det-checkpoint, --whole-image or --bboxes' +
                         (f'; got {", ".join(sources)}' if sources else ''))
        if args.bboxes is not None and len(args.bboxes) % 4:
            parser.error('--bboxes takes groups of four numbers: x1 y1 x2 y2')
        if args.det_file:
            self.det_file = DetFileBoxes(args.det_file, score_thr=args.det_score_thr,
                                         cat_id=args.det_cat_id)
        elif args.det_config or args.det_checkpoint:
            if not (args.det_config and args.det_checkpoint):
                parser.error('--det-config and --det-checkpoint go together')
            self.detector = init_model(args.det_config, args.det_checkpoint, device=args.device)
            if model_task(self.detector) != 'det':
                parser.error(f'--det-config {args.det_config} is not a detector config')
            from hrnet_train.apis.inference import class_names
            names = class_names(self.detector, self.detector.num_classes)
            if PERSON not in names:
                raise DataError(f'--det-checkpoint {args.det_checkpoint}: the detector\'s classes '
                                f'{list(names)[:5]} have no "{PERSON}" (dataset_meta classes)')
            self.person_label = names.index(PERSON)

    def _person_boxes(self, imgs: list[np.ndarray], paths: list[str], frames: list):
        args = self.args
        if args.whole_image:
            return [None] * len(imgs), [None] * len(imgs)
        if args.bboxes is not None:
            boxes = np.array(args.bboxes, np.float32).reshape(-1, 4)
            return [boxes] * len(imgs), [None] * len(imgs)
        if self.det_file is not None:
            got = [self.det_file.boxes(p, f) for p, f in zip(paths, frames)]
            return [g[0] for g in got], [g[1] for g in got]
        from hrnet_train.apis import inference_detector
        dets = inference_detector(self.detector, imgs, batch_size=args.batch_size)
        keep = [(d.labels == self.person_label) & (d.scores >= args.det_score_thr) for d in dets]
        return [d.bboxes[k] for d, k in zip(dets, keep)], [d.scores[k] for d, k in zip(dets, keep)]

    def __call__(self, imgs: list[np.ndarray], paths: list[str], frames: list) -> list:
        from hrnet_train.apis import inference
        args = self.args
        if self.task == 'pose':
            boxes, scores = self._person_boxes(imgs, paths, frames)
            return inference(self.model, imgs, boxes=boxes, bbox_scores=scores,
                             batch_size=args.batch_size)
        kwargs = dict(topk=args.topk) if self.task == 'cls' else {}
        return [_keep(self.task, r, args) for r in
                inference(self.model, imgs, batch_size=args.batch_size, **kwargs)]


def _to_json(task: str, result) -> dict:
    if task == 'pose':
        return dict(people=[r.to_dict() for r in result])
    return result.to_dict()


class _Progress:
    """mmengine's ProgressBar on stderr when it is a terminal (logs and pipes stay clean); on an
    error the bar's line is ended first, so the error stays one line of its own."""

    def __init__(self, total: int) -> None:
        from mmengine.utils import ProgressBar
        self.bar = ProgressBar(total, file=sys.stderr) if show_progress() else None

    def update(self) -> None:
        if self.bar is not None:
            self.bar.update()

    def __enter__(self) -> '_Progress':
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            sys.stderr.write('\n')


def show_progress() -> bool:
    return sys.stderr.isatty()


def _write_image(path: str, rgb: np.ndarray) -> None:
    if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise DataError(f'could not write {path} (--out-dir writable?)')


def run_images(predictor: Predictor, files: list[str], out_dir: str) -> int:
    from hrnet_train.apis import load_image
    names, bs = UniqueNames(), predictor.args.batch_size
    with _Progress(len(files)) as bar:
        for start in range(0, len(files), bs):
            paths = files[start:start + bs]
            imgs = [load_image(p)['img'] for p in paths]
            results = predictor(imgs, paths, [None] * len(paths))
            for path, img, result in zip(paths, imgs, results):
                _write_image_outputs(predictor, out_dir, names(_stem(path)), path, img, result)
                bar.update()
    return len(files)


def _write_image_outputs(predictor: Predictor, out_dir: str, stem: str, path: str,
                         img: np.ndarray, result) -> None:
    task = predictor.task
    ext = '.png' if task == 'seg' else '.jpg'
    _write_image(osp.join(out_dir, stem + ext), draw(task, img, result, predictor.model,
                                                     predictor.args))
    if task == 'seg':
        labels = result.label_map.astype(np.uint16 if result.label_map.max(initial=0) > 255
                                         else np.uint8)
        cv2.imwrite(osp.join(out_dir, stem + '_labels.png'), labels)
    record = dict(image=path, task=task, height=img.shape[0], width=img.shape[1])
    record.update(_to_json(task, result))
    with open(osp.join(out_dir, stem + '.json'), 'w') as f:
        json.dump(record, f)


def run_video(predictor: Predictor, path: str, out_dir: str) -> int:
    cap, fps, total = _read_video(path)
    task, bs = predictor.task, predictor.args.batch_size
    stem = _stem(path)
    mp4 = osp.splitext(path)[1].lower() in _MP4_SUFFIXES
    out_path = osp.join(out_dir, stem + ('.mp4' if mp4 else '.avi'))
    writer = None
    records: list[dict] = []
    size = (0, 0)
    frame_iter = _frames(cap)
    try:
        with _Progress(total) as bar:
            while True:
                batch = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for _, f in zip(range(bs), frame_iter)]
                if not batch:
                    break
                first = len(records)
                results = predictor(batch, [path] * len(batch),
                                    list(range(first, first + len(batch))))
                for i, (img, result) in enumerate(zip(batch, results)):
                    if writer is None:
                        size = img.shape[:2]
                        fourcc = cv2.VideoWriter_fourcc(*('mp4v' if mp4 else 'MJPG'))
                        writer = cv2.VideoWriter(out_path, fourcc, fps, (size[1], size[0]))
                        if not writer.isOpened():
                            raise DataError(f'could not write video {out_path} (codec, folder)')
                    drawn = draw(task, img, result, predictor.model, predictor.args)
                    writer.write(cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
                    records.append(dict(frame=first + i, **_to_json(task, result)))
                    bar.update()
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    if not records:
        raise DataError(f'video file {path} has no readable frames')
    with open(osp.join(out_dir, stem + '.json'), 'w') as f:
        json.dump(dict(video=path, task=task, fps=fps, height=size[0], width=size[1],
                       num_frames=len(records), output=out_path, frames=records), f)
    return len(records)


def main(argv: Optional[list[str]] = None) -> int:
    parser, args = parse_args(argv)
    # A fresh current logger, bound to this process's stdout now: the loader's `loaded N/M
    # tensors` line goes there, not to a stream an earlier runner in this process bound.
    MMLogger.get_instance(f'hrnet_demo_{os.getpid()}_{time.time_ns()}', log_level='INFO')
    if args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, got {args.batch_size}')
    predictor = Predictor(args, parser)  # first: a bad config or checkpoint is the first error
    kind, files = list_inputs(args.input)
    os.makedirs(args.out_dir, exist_ok=True)
    start = time.time()
    if kind == 'video':
        n = run_video(predictor, files[0], args.out_dir)
        what = f'{n} frames of {files[0]}'
    else:
        n = run_images(predictor, files, args.out_dir)
        what = f'{n} image(s)'
    print(f'{predictor.task}: {what} in {time.time() - start:.1f} s; drawings and JSON in '
          f'{args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main))
