"""MPII PCKh: the official evaluation of leoxiaobin/deep-high-resolution-net.pytorch
(lib/dataset/mpii.py ``MPIIDataset.evaluate``), as pure numpy, plus readers for its ground truth.

The protocol: predictions are shifted back to MATLAB's 1-based pixels (+1), a joint is correct when
its distance to the GT is at most ``thr`` head sizes, where head size = ``SC_BIAS`` (0.6) x the
diagonal of the annotated head box, and only joints labelled visible in the GT count. The table
averages the left/right joints; its ``Mean`` leaves out pelvis and thorax (joints 6 and 7),
weighting the other 14 joints by their visible counts (``jnt_ratio``). ``Mean@0.1`` reads the
per-threshold table over ``np.arange(0, 0.51, 0.01)`` at row ``low_thr_index``: the official code
reads row 11 (threshold 0.11), mmpose (mmpose/evaluation/metrics/keypoint_2d_metrics.py
``MpiiPCKAccuracy``) row 10 (threshold 0.10).

Joints are in MPII order (0 r_ankle ... 9 head_top, 10 r_wrist ... 15 l_wrist). Coordinates here
are MATLAB 1-based image pixels unless a docstring says otherwise.
"""
from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np

from hrnet_train.utils.errors import DataError

# The joint names of annot/gt_valid.mat ``dataset_joints``, in MPII order.
MPII_JOINT_SHORT_NAMES = ('rank', 'rkne', 'rhip', 'lhip', 'lkne', 'lank', 'pelv', 'thor', 'neck',
                          'head', 'rwri', 'relb', 'rsho', 'lsho', 'lelb', 'lwri')
# Columns of the official results table (README "Results on MPII val").
MPII_PCKH_TABLE_NAMES = ('Head', 'Shoulder', 'Elbow', 'Wrist', 'Hip', 'Knee', 'Ankle', 'Mean',
                         'Mean@0.1')
SC_BIAS = 0.6  # official lib/dataset/mpii.py
_MEAN_EXCLUDED = (6, 7)  # pelvis, thorax: masked out of the Mean (official PCKh.mask[6:8])
# (table name, joint ids averaged): official evaluate(), looked up via dataset_joints names.
_TABLE_JOINTS = (('Head', (9,)), ('Shoulder', (13, 12)), ('Elbow', (14, 11)),
                 ('Wrist', (15, 10)), ('Hip', (3, 2)), ('Knee', (4, 1)), ('Ankle', (5, 0)))


def pckh_thresholds() -> np.ndarray:
    """The official curve thresholds ``np.arange(0, 0.5 + 0.01, 0.01)``: (51,) float64."""
    return np.arange(0, 0.5 + 0.01, 0.01)


def compute_head_sizes(headboxes: np.ndarray, *, sc_bias: float = SC_BIAS) -> np.ndarray:
    """Head size per person: ``sc_bias * ||headbox[1] - headbox[0]||``.

    Args:
        headboxes: (N, 2, 2), per person the corners [[x1, y1], [x2, y2]] of the head box, pixels.
        sc_bias: official SC_BIAS 0.6.

    Returns:
        (N,) float64, pixels.
    """
    headboxes = np.asarray(headboxes, dtype=np.float64)
    if headboxes.ndim != 3 or headboxes.shape[1:] != (2, 2):
        raise ValueError(f'headboxes: expected shape (N, 2, 2), got {headboxes.shape}')
    return sc_bias * np.linalg.norm(headboxes[:, 1] - headboxes[:, 0], axis=1)


def compute_scaled_errors(pred: np.ndarray, gt: np.ndarray, head_sizes: np.ndarray) -> np.ndarray:
    """Distance of each prediction to its GT in head sizes.

    Args:
        pred: (N, K, 2) predictions, the same pixel convention as ``gt``.
        gt: (N, K, 2) ground truth.
        head_sizes: (N,) from :func:`compute_head_sizes`.

    Returns:
        (N, K) float64. A head size of 0 gives inf (or NaN), which never passes a threshold, as in
        the official code.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    head_sizes = np.asarray(head_sizes, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[2] != 2:
        raise ValueError(f'pred and gt: expected equal shapes (N, K, 2), got {pred.shape} and '
                         f'{gt.shape}')
    if head_sizes.shape != pred.shape[:1]:
        raise ValueError(f'head_sizes: expected shape ({pred.shape[0]},), got {head_sizes.shape}')
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.linalg.norm(pred - gt, axis=2) / head_sizes[:, None]


def pckh_per_joint(scaled_errors: np.ndarray, visible: np.ndarray,
                   thr: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint PCKh in percent.

    Args:
        scaled_errors: (N, K) from :func:`compute_scaled_errors`.
        visible: (N, K), nonzero where the GT joint is labelled (official ``1 - jnt_missing``).
        thr: correct when ``scaled_error <= thr``.

    Returns:
        pckh: (K,) float64 percent; NaN for a joint with no visible GT (the official code divides
        by that zero count).
        count: (K,) int64, visible GT joints (official ``jnt_count``).
    """
    visible = np.asarray(visible) > 0
    scaled_errors = np.asarray(scaled_errors, dtype=np.float64)
    if visible.shape != scaled_errors.shape:
        raise ValueError(f'visible: expected shape {scaled_errors.shape}, got {visible.shape}')
    with np.errstate(invalid='ignore'):
        correct = (scaled_errors <= thr) & visible
    count = visible.sum(axis=0)
    with np.errstate(divide='ignore', invalid='ignore'):
        pckh = 100. * correct.sum(axis=0) / count
    return pckh, count.astype(np.int64)


def _masked_mean(pckh: np.ndarray, count: np.ndarray) -> float:
    """Official Mean: joints weighted by their visible count, pelvis and thorax left out."""
    keep = np.ones(len(count), dtype=bool)
    keep[list(_MEAN_EXCLUDED)] = False
    keep &= count > 0  # no visible GT: weight 0 (the official code would give NaN)
    total = count[keep].sum()
    if total == 0:
        return float('nan')
    return float(np.sum(pckh[keep] * count[keep] / total))


def evaluate_mpii_pckh(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray,
                       headboxes: np.ndarray, *, thr: float = 0.5, sc_bias: float = SC_BIAS,
                       low_thr_index: int = 11) -> dict:
    """The official MPII PCKh table.

    Args:
        pred: (N, 16, 2) predictions, MATLAB 1-based image pixels (0-based predictions + 1).
        gt: (N, 16, 2) GT joints, MATLAB 1-based (official ``pos_gt_src`` transposed).
        visible: (N, 16), nonzero for labelled joints (official ``1 - jnt_missing``).
        headboxes: (N, 2, 2) head boxes [[x1, y1], [x2, y2]], MATLAB 1-based.
        thr: the PCKh threshold of the per-joint numbers and the Mean (official 0.5).
        sc_bias: head size = sc_bias x head-box diagonal (official 0.6).
        low_thr_index: row of :func:`pckh_thresholds` reported as ``Mean@0.1``; 11 (0.11) is what
            the official code reads, 10 (0.10) what mmpose reads.

    Returns:
        dict with ``table``: OrderedDict over :data:`MPII_PCKH_TABLE_NAMES` (percent, float);
        ``per_joint`` (16,) percent at ``thr``; ``count`` (16,) visible GT joints; ``pck_all``
        (51, 16) percent per curve threshold.
    """
    pred = np.asarray(pred, dtype=np.float64)
    if pred.ndim != 3 or pred.shape[1:] != (len(MPII_JOINT_SHORT_NAMES), 2):
        raise ValueError(f'pred: expected shape (N, 16, 2) in MPII joint order, got {pred.shape}')
    rng = pckh_thresholds()
    if not 0 <= low_thr_index < len(rng):
        raise ValueError(f'low_thr_index: expected 0..{len(rng) - 1}, got {low_thr_index}')
    scaled = compute_scaled_errors(pred, gt, compute_head_sizes(headboxes, sc_bias=sc_bias))
    per_joint, count = pckh_per_joint(scaled, visible, thr)
    pck_all = np.stack([pckh_per_joint(scaled, visible, t)[0] for t in rng])  # (51, K)
    table = OrderedDict(
        (name, float(np.mean(per_joint[list(ids)]))) for name, ids in _TABLE_JOINTS)
    table['Mean'] = _masked_mean(per_joint, count)
    table['Mean@0.1'] = _masked_mean(pck_all[low_thr_index], count)
    return dict(table=table, per_joint=per_joint, count=count, pck_all=pck_all)


def format_mpii_pckh_table(table: dict, *, name: str = 'hrnet') -> str:
    """The official Markdown-style table (lib/core/function.py ``_print_name_value``)."""
    names = list(table)
    header = '| Arch | ' + ' | '.join(names) + ' |'
    rule = '|---' * (len(names) + 1) + '|'
    row = f'| {name} | ' + ' | '.join(f'{float(table[k]):.3f}' for k in names) + ' |'
    return '\n'.join((header, rule, row))


def _mat_names(value) -> list[str]:
    """``dataset_joints`` as loaded by scipy (a cell array of 1-element string arrays) -> names."""
    arr = np.asarray(value, dtype=object).reshape(-1)
    names = []
    for item in arr:
        item = np.asarray(item).reshape(-1)
        names.append(str(item[0]) if item.size else '')
    return names


def load_mpii_gt_mat(path: str) -> dict:
    """Read the official ``annot/gt_valid.mat`` (scipy is imported here, only when needed).

    Layout (MATLAB, 1-based pixels): ``dataset_joints`` (1, 16) joint names, ``jnt_missing``
    (16, N), ``pos_gt_src`` (16, 2, N), ``headboxes_src`` (2, 2, N) (corner, xy, person).

    Returns:
        dict(gt (N, 16, 2) float64, visible (N, 16) bool, headboxes (N, 2, 2) float64), all
        MATLAB 1-based pixels, in the order of the persons in valid.json.
    """
    try:
        from scipy.io import loadmat
    except ImportError:
        raise ImportError(f'reading the MPII GT file {path} needs scipy: pip install scipy (or '
                          'give a JSON head-box file instead, see docs/pose.md)') from None
    try:
        mat = loadmat(path)
    except FileNotFoundError:
        raise DataError(f'MPII GT file {path} does not exist (official annot/gt_valid.mat)') \
            from None
    except Exception as exc:  # scipy raises ValueError / MatReadError / TypeError on bad files
        raise DataError(f'MPII GT file {path} is not a readable .mat file: {exc}') from None
    missing = [k for k in ('jnt_missing', 'pos_gt_src', 'headboxes_src') if k not in mat]
    if missing:
        raise DataError(f'MPII GT file {path} lacks {missing} (expected the official '
                        'gt_valid.mat keys dataset_joints, jnt_missing, pos_gt_src, headboxes_src)')
    num_k = len(MPII_JOINT_SHORT_NAMES)
    if 'dataset_joints' in mat:
        names = _mat_names(mat['dataset_joints'])
        if tuple(names) != MPII_JOINT_SHORT_NAMES:
            raise DataError(f'MPII GT file {path}: dataset_joints is {names}, expected the MPII '
                            f'order {list(MPII_JOINT_SHORT_NAMES)}')
    pos = np.asarray(mat['pos_gt_src'], dtype=np.float64)
    jnt_missing = np.asarray(mat['jnt_missing'])
    headboxes = np.asarray(mat['headboxes_src'], dtype=np.float64)
    if pos.ndim == 2 and pos.shape == (num_k, 2):  # a single person, squeezed by MATLAB
        pos, jnt_missing, headboxes = pos[..., None], jnt_missing[:, None], headboxes[..., None]
    if pos.ndim != 3 or pos.shape[:2] != (num_k, 2):
        raise DataError(f'MPII GT file {path}: pos_gt_src has shape {pos.shape}, expected '
                        f'({num_k}, 2, N)')
    num = pos.shape[2]
    if jnt_missing.shape != (num_k, num) or headboxes.shape != (2, 2, num):
        raise DataError(f'MPII GT file {path}: jnt_missing {jnt_missing.shape} and headboxes_src '
                        f'{headboxes.shape} do not match pos_gt_src {pos.shape}; expected '
                        f'({num_k}, {num}) and (2, 2, {num})')
    return dict(gt=pos.transpose(2, 0, 1), visible=(1 - jnt_missing).T > 0,
                headboxes=headboxes.transpose(2, 0, 1))


def _is_box(value) -> bool:
    """True for ``[[x1, y1], [x2, y2]]`` of finite numbers."""
    try:
        box = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return box.shape == (2, 2) and bool(np.isfinite(box).all())


def load_mpii_headboxes_json(path: str) -> np.ndarray:
    """Read a JSON head-box file: a list, one ``[[x1, y1], [x2, y2]]`` per person of valid.json,
    in the same order, MATLAB 1-based pixels (as ``headboxes_src``).

    Returns:
        (N, 2, 2) float64.
    """
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise DataError(f'head-box file {path} does not exist') from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f'head-box file {path} is not JSON: {exc}') from None
    if not isinstance(data, list) or not data:
        raise DataError(f'head-box file {path} must hold a non-empty list of [[x1, y1], [x2, y2]]')
    try:
        boxes = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        boxes = None
    if boxes is None or boxes.shape != (len(data), 2, 2) or not np.isfinite(boxes).all():
        first = next((i for i, b in enumerate(data) if not _is_box(b)), 0)
        raise DataError(f'head-box file {path}: entry {first} is {str(data[first])[:60]}, '
                        'expected [[x1, y1], [x2, y2]] of finite numbers')
    return boxes


def load_mpii_gt_json(ann_file: str, headbox_file: str) -> dict:
    """GT for :func:`evaluate_mpii_pckh` without the .mat file: joints and visibility from the
    MPII annotation json (``annot/valid.json``), head boxes from a JSON head-box file (see
    :func:`load_mpii_headboxes_json`), both in the order of ``ann_file``.

    Returns:
        dict(gt (N, 16, 2) float64, visible (N, 16) bool, headboxes (N, 2, 2) float64), MATLAB
        1-based pixels as in the file. An entry without ``joints`` has no visible joint.
    """
    try:
        with open(ann_file) as f:
            anns = json.load(f)
    except FileNotFoundError:
        raise DataError(f'annotation file {ann_file} does not exist') from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f'annotation file {ann_file} is not JSON: {exc}') from None
    if not isinstance(anns, list) or not anns:
        raise DataError(f'annotation file {ann_file} must hold a non-empty list of persons')
    num_k = len(MPII_JOINT_SHORT_NAMES)
    gt = np.zeros((len(anns), num_k, 2))
    visible = np.zeros((len(anns), num_k), dtype=bool)
    for i, ann in enumerate(anns):
        if not isinstance(ann, dict) or 'joints' not in ann:
            continue
        joints = np.asarray(ann['joints'], dtype=np.float64)
        vis = np.asarray(ann.get('joints_vis', np.ones(num_k)), dtype=np.float64)
        if joints.shape != (num_k, 2) or vis.shape != (num_k,):
            raise DataError(f'annotation file {ann_file}: entry {i} has joints {joints.shape} and '
                            f'joints_vis {vis.shape}, expected ({num_k}, 2) and ({num_k},)')
        gt[i], visible[i] = joints, vis > 0
    headboxes = load_mpii_headboxes_json(headbox_file)
    if len(headboxes) != len(anns):
        raise DataError(f'head-box file {headbox_file} has {len(headboxes)} boxes but '
                        f'{ann_file} has {len(anns)} persons; expected one box per person')
    return dict(gt=gt, visible=visible, headboxes=headboxes)
