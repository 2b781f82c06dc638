"""hrnet_train.ops nms / batched_nms / box_iou against a transcription of torchvision's CPU
kernel (pytorch/vision ``torchvision/csrc/ops/cpu/nms_kernel.cpp``) and hand-worked boxes."""
import sys
import time

import numpy as np
import pytest
import torch

from hrnet_train.ops import batched_nms, box_iou, nms
from hrnet_train.structures import box_iou as structures_box_iou

NMS = sys.modules[nms.__module__]


def reference_nms(boxes, scores, iou_threshold):
    """nms_kernel_impl line by line; arithmetic in the boxes' type T, threshold a double."""
    if boxes.numel() == 0:
        return []
    T = boxes.numpy().dtype.type
    order = scores.sort(0, descending=True)[1].tolist()  # the kernel's scores.sort(0, true)
    x1, y1, x2, y2 = (boxes[:, i].numpy() for i in range(4))
    areas = (x2 - x1) * (y2 - y1)
    suppressed = [False] * len(order)
    keep = []
    for _i, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        for j in order[_i + 1:]:
            if suppressed[j]:
                continue
            w = max(T(0), min(x2[i], x2[j]) - max(x1[i], x1[j]))
            h = max(T(0), min(y2[i], y2[j]) - max(y1[i], y1[j]))
            inter = w * h
            ovr = inter / (areas[i] + areas[j] - inter)
            if float(ovr) > iou_threshold:
                suppressed[j] = True
    return keep


def _random_boxes(g, n, dtype=torch.float32, spread=100.0):
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * spread
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * 40 + 1
    return torch.cat([xy, xy + wh], 1).to(dtype)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('thr', [0.3, 0.5, 0.7])
def test_nms_equals_kernel_transcription(dtype, thr):
    g = torch.Generator().manual_seed(int(thr * 10))
    boxes = _random_boxes(g, 300, dtype, spread=30.0)  # crowded: long suppression chains
    scores = torch.rand(300, generator=g).to(dtype)
    keep = nms(boxes, scores, thr, backend='torch')
    assert keep.dtype == torch.int64
    ref = reference_nms(boxes, scores, thr)
    assert keep.tolist() == ref
    assert 20 < len(ref) < 280  # a case with both kept and suppressed boxes


def test_blocks_and_chains(monkeypatch):
    """Small blocks: the in-block fixed point and the cross-block suppression both matter."""
    monkeypatch.setattr(NMS, '_BLOCK', 16)
    monkeypatch.setattr(NMS, '_PAIRS_PER_STEP', 50)
    g = torch.Generator().manual_seed(1)
    boxes = _random_boxes(g, 250, spread=60.0)
    scores = torch.rand(250, generator=g)
    assert nms(boxes, scores, 0.4).tolist() == reference_nms(boxes, scores, 0.4)
    # a chain: box i + 1 overlaps box i only (IoU 1/3 with a shift of half a width), scores
    # decreasing: greedy keeps every other box (0, 2, 4, ...), not just the first
    x = torch.arange(40, dtype=torch.float32) * 5
    chain = torch.stack([x, torch.zeros(40), x + 10, torch.ones(40) * 10], 1)
    keep = nms(chain, torch.linspace(1, 0, 40), 0.3)
    assert keep.tolist() == list(range(0, 40, 2))


def test_hand_worked_boxes():
    a = [0., 0., 10., 10.]
    b = [5., 0., 15., 10.]  # IoU(a, b) = 50 / 150 = 1/3
    c = [10., 0., 20., 10.]  # IoU(a, c) = 0, IoU(b, c) = 1/3
    boxes = torch.tensor([c, a, b])
    scores = torch.tensor([0.7, 0.9, 0.8])
    # thr 0.3: a kept, b suppressed by a, c survives (b was suppressed, not kept)
    assert nms(boxes, scores, 0.3).tolist() == [1, 0]
    assert nms(boxes, scores, 0.34).tolist() == [1, 2, 0]
    # IoU exactly equal to the threshold is kept (suppression is IoU > threshold)
    half = torch.tensor([[0., 0., 2., 1.], [0., 0., 1., 1.]])  # IoU = 1 / 2
    assert nms(half, torch.tensor([1., 0.5]), 0.5).tolist() == [0, 1]
    assert nms(half, torch.tensor([1., 0.5]), 0.4999).tolist() == [0]


def test_threshold_is_compared_as_a_double():
    """The kernel compares the float IoU with the double threshold: a threshold just below the
    float IoU v (but rounding to v in float32) still suppresses."""
    boxes = torch.tensor([[0., 0., 3., 3.], [1., 0.3, 3.7, 2.9]])
    iou = NMS._kernel_iou(boxes[:1], boxes[:1, 2:].sub(boxes[:1, :2]).prod(1), boxes[1:],
                          boxes[1:, 2:].sub(boxes[1:, :2]).prod(1)).item()
    thr = iou - 1e-9  # float32(thr) == iou
    assert float(np.float32(thr)) == iou and thr < iou
    scores = torch.tensor([1., 0.5])
    assert nms(boxes, scores, thr).tolist() == [0] == reference_nms(boxes, scores, thr)
    assert nms(boxes, scores, iou).tolist() == [0, 1] == reference_nms(boxes, scores, iou)
    assert NMS._strict_threshold(0.3, torch.float32) < 0.3 < float(np.float32(0.3))
    assert NMS._strict_threshold(0.5, torch.float32) == 0.5


def test_ties_follow_torch_sort_like_the_kernel():
    """Equal scores are visited in the order of ``scores.sort(0, descending=True)`` (the
    kernel's call): of 40 identical boxes with one score, that order's first is kept. On this
    PyTorch build the vectorised unstable sort does not put index 0 first."""
    boxes = torch.tensor([[0., 0., 4., 4.]]).repeat(40, 1)
    scores = torch.full((40,), 0.5)
    first = scores.sort(0, descending=True)[1][0].item()
    assert nms(boxes, scores, 0.5).tolist() == [first] == reference_nms(boxes, scores, 0.5)
    # ties among disjoint boxes: all kept, in the sort's order
    g = torch.Generator().manual_seed(3)
    boxes = torch.arange(30.)[:, None] * 10 + torch.tensor([0., 0., 5., 5.])
    scores = torch.randint(0, 3, (30,), generator=g).float()
    assert nms(boxes, scores, 0.5).tolist() == scores.sort(0, descending=True)[1].tolist()


def test_empty_and_bad_inputs():
    for fn in (lambda b, s: nms(b, s, 0.5),
               lambda b, s: batched_nms(b, s, torch.zeros(len(s), dtype=torch.long), 0.5)):
        out = fn(torch.zeros(0, 4), torch.zeros(0))
        assert out.dtype == torch.int64 and out.shape == (0,)
    assert nms(torch.tensor([[0., 0., 1., 1.]]), torch.tensor([0.3]), 0.5).tolist() == [0]
    with pytest.raises(ValueError, match=r'boxes must be a Tensor\[N, 4\]'):
        nms(torch.zeros(3, 5), torch.zeros(3), 0.5)
    with pytest.raises(ValueError, match=r'scores must be a Tensor\[N\] with N = 3'):
        nms(torch.zeros(3, 4), torch.zeros(2), 0.5)
    with pytest.raises(ValueError, match=r'idxs must be a Tensor\[N\] with N = 3'):
        batched_nms(torch.zeros(3, 4), torch.zeros(3), torch.zeros(2, dtype=torch.long), 0.5)


@pytest.mark.parametrize('n', [200, 1500])  # coordinate trick (<= 1000 boxes), one nms per idx
def test_batched_nms_is_nms_per_group(n):
    g = torch.Generator().manual_seed(n)
    boxes = _random_boxes(g, n, spread=50.0)
    scores = torch.rand(n, generator=g)
    idxs = torch.randint(0, 5, (n,), generator=g)
    keep = batched_nms(boxes, scores, idxs, 0.5)
    expected = []
    for c in range(5):
        members = torch.where(idxs == c)[0]
        expected += members[reference_nms(boxes[members], scores[members], 0.5)].tolist()
    assert sorted(keep.tolist()) == sorted(expected)
    assert torch.all(scores[keep][:-1] >= scores[keep][1:])  # decreasing score
    assert len(keep) < 0.95 * n and len(keep) > len(nms(boxes, scores, 0.5))


def test_nms_5000_boxes_is_fast():
    """One thread: on a shared, oversubscribed VM OpenMP's waits for a descheduled second
    thread cost milliseconds per op and would time the machine, not the algorithm."""
    g = torch.Generator().manual_seed(0)
    boxes = _random_boxes(g, 5000, spread=1000.0)
    scores = torch.rand(5000, generator=g)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        nms(boxes, scores, 0.5)  # warm-up
        times = []
        for _ in range(3):
            t = time.perf_counter()
            nms(boxes, scores, 0.5)
            times.append(time.perf_counter() - t)
    finally:
        torch.set_num_threads(threads)
    assert min(times) < 1.0, times  # ~0.1-0.2 s here


def test_box_iou_torchvision_formula():
    b1 = torch.tensor([[0., 0., 10., 10.], [5., 5., 6., 6.], [2., 2., 2., 2.]])
    b2 = torch.tensor([[5., 0., 15., 10.], [0., 0., 10., 10.], [2., 2., 2., 2.]])
    iou = box_iou(b1, b2)
    assert iou.shape == (3, 3) and iou.dtype == torch.float32
    torch.testing.assert_close(iou[:2, :2], torch.tensor([[1 / 3, 1.], [0.01, 0.01]]))
    assert torch.isnan(iou[2, 2])  # zero union: 0 / 0, as torchvision (structures gives 0)
    assert structures_box_iou(b1, b2)[2, 2] == 0
    g = torch.Generator().manual_seed(4)
    a, b = _random_boxes(g, 20, torch.float64), _random_boxes(g, 30, torch.float64)
    torch.testing.assert_close(box_iou(a, b), structures_box_iou(a, b), rtol=0, atol=1e-15)
    ints = box_iou(b1.long(), b2.long())
    assert ints.dtype == torch.float32 and ints[0, 0].item() == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match=r'boxes2 must be a Tensor\[N, 4\]'):
        box_iou(b1, torch.zeros(4))
