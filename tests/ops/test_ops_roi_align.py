"""hrnet_train.ops.roi_align against a literal transcription of torchvision's CPU kernel.

The reference below is pytorch/vision ``torchvision/csrc/ops/cpu/roi_align_kernel.cpp``
(``roi_align_forward_kernel_impl``, ``roi_align_backward_kernel_impl``) and
``roi_align_common.h`` (``pre_calc_for_bilinear_interpolate``) line by line, one Python loop
per C++ loop, every intermediate in the kernel's type ``T`` (numpy float32 / float64 scalars).
"""
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from hrnet_train.ops import RoIAlign, roi_align

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------------------
# The reference: the C++ kernel transcribed
# ------------------------------------------------------------------------------------------------
def _pre_calc(T, height, width, pooled_height, pooled_width, roi_start_h, roi_start_w,
              bin_size_h, bin_size_w, roi_bin_grid_h, roi_bin_grid_w):
    pre_calc = []
    for ph in range(pooled_height):
        for pw in range(pooled_width):
            for iy in range(roi_bin_grid_h):
                yy = roi_start_h + T(ph) * bin_size_h + \
                    T(iy + 0.5) * bin_size_h / T(roi_bin_grid_h)
                for ix in range(roi_bin_grid_w):
                    xx = roi_start_w + T(pw) * bin_size_w + \
                        T(ix + 0.5) * bin_size_w / T(roi_bin_grid_w)
                    x, y = xx, yy
                    if not (y >= -1.0 and y <= height and x >= -1.0 and x <= width):
                        pre_calc.append((0, 0, 0, 0, T(0), T(0), T(0), T(0)))
                        continue
                    if y <= 0:
                        y = T(0)
                    if x <= 0:
                        x = T(0)
                    y_low, x_low = int(y), int(x)
                    if y_low >= height - 1:
                        y_high = y_low = height - 1
                        y = T(y_low)
                    else:
                        y_high = y_low + 1
                    if x_low >= width - 1:
                        x_high = x_low = width - 1
                        x = T(x_low)
                    else:
                        x_high = x_low + 1
                    ly = y - T(y_low)
                    lx = x - T(x_low)
                    hy, hx = T(1.0 - ly), T(1.0 - lx)
                    pre_calc.append((y_low * width + x_low, y_low * width + x_high,
                                     y_high * width + x_low, y_high * width + x_high,
                                     hy * hx, hy * lx, ly * hx, ly * lx))
    return pre_calc


def _roi_params(T, roi, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned):
    spatial_scale = T(spatial_scale)
    offset = T(0.5) if aligned else T(0.0)
    roi_start_w = roi[1] * spatial_scale - offset
    roi_start_h = roi[2] * spatial_scale - offset
    roi_end_w = roi[3] * spatial_scale - offset
    roi_end_h = roi[4] * spatial_scale - offset
    roi_width = roi_end_w - roi_start_w
    roi_height = roi_end_h - roi_start_h
    if not aligned:
        roi_width = max(roi_width, T(1.0))
        roi_height = max(roi_height, T(1.0))
    bin_size_h = roi_height / T(pooled_height)
    bin_size_w = roi_width / T(pooled_width)
    grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_height / T(pooled_height))
    grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_width / T(pooled_width))
    return roi_start_h, roi_start_w, bin_size_h, bin_size_w, grid_h, grid_w


def reference_roi_align(input, rois, pooled_height, pooled_width, spatial_scale,
                        sampling_ratio, aligned):
    """roi_align_forward_kernel_impl; input (N, C, H, W) and rois (K, 5) numpy arrays."""
    T = input.dtype.type
    _, channels, height, width = input.shape
    flat = input.reshape(-1)
    output = np.zeros((len(rois), channels, pooled_height, pooled_width), dtype=input.dtype)
    for n, roi in enumerate(rois):
        roi = [T(v) for v in roi]
        roi_batch_ind = int(roi[0])
        (roi_start_h, roi_start_w, bin_size_h, bin_size_w, roi_bin_grid_h,
         roi_bin_grid_w) = _roi_params(T, roi, spatial_scale, pooled_height, pooled_width,
                                       sampling_ratio, aligned)
        count = T(max(roi_bin_grid_h * roi_bin_grid_w, 1))
        pre_calc = _pre_calc(T, height, width, pooled_height, pooled_width, roi_start_h,
                             roi_start_w, bin_size_h, bin_size_w, roi_bin_grid_h,
                             roi_bin_grid_w)
        for c in range(channels):
            base = (roi_batch_ind * channels + c) * height * width
            i = 0
            for ph in range(pooled_height):
                for pw in range(pooled_width):
                    output_val = T(0)
                    for _ in range(max(roi_bin_grid_h, 0)):
                        for _ in range(max(roi_bin_grid_w, 0)):
                            p1, p2, p3, p4, w1, w2, w3, w4 = pre_calc[i]
                            output_val += (w1 * flat[base + p1] + w2 * flat[base + p2]
                                           + w3 * flat[base + p3] + w4 * flat[base + p4])
                            i += 1
                    output[n, c, ph, pw] = output_val / count
    return output


def reference_roi_align_backward(grad, rois, input_shape, spatial_scale, sampling_ratio,
                                 aligned):
    """roi_align_backward_kernel_impl (with bilinear_interpolate_gradient)."""
    T = grad.dtype.type
    _, channels, height, width = input_shape
    _, _, pooled_height, pooled_width = grad.shape
    grad_input = np.zeros(input_shape, dtype=grad.dtype)
    for n, roi in enumerate(rois):
        roi = [T(v) for v in roi]
        b = int(roi[0])
        (roi_start_h, roi_start_w, bin_size_h, bin_size_w, roi_bin_grid_h,
         roi_bin_grid_w) = _roi_params(T, roi, spatial_scale, pooled_height, pooled_width,
                                       sampling_ratio, aligned)
        count = T(roi_bin_grid_h * roi_bin_grid_w)
        for c in range(channels):
            for ph in range(pooled_height):
                for pw in range(pooled_width):
                    g = grad[n, c, ph, pw]
                    for iy in range(roi_bin_grid_h):
                        y0 = roi_start_h + T(ph) * bin_size_h + \
                            T(iy + 0.5) * bin_size_h / T(roi_bin_grid_h)
                        for ix in range(roi_bin_grid_w):
                            x0 = roi_start_w + T(pw) * bin_size_w + \
                                T(ix + 0.5) * bin_size_w / T(roi_bin_grid_w)
                            y, x = y0, x0
                            if y < -1.0 or y > height or x < -1.0 or x > width:
                                continue
                            y, x = max(y, T(0)), max(x, T(0))
                            y_low, x_low = int(y), int(x)
                            if y_low >= height - 1:
                                y_high = y_low = height - 1
                                y = T(y_low)
                            else:
                                y_high = y_low + 1
                            if x_low >= width - 1:
                                x_high = x_low = width - 1
                                x = T(x_low)
                            else:
                                x_high = x_low + 1
                            ly, lx = y - T(y_low), x - T(x_low)
                            hy, hx = T(1.0 - ly), T(1.0 - lx)
                            gi = grad_input[b, c]
                            gi[y_low, x_low] += g * (hy * hx) / count
                            gi[y_low, x_high] += g * (hy * lx) / count
                            gi[y_high, x_low] += g * (ly * hx) / count
                            gi[y_high, x_high] += g * (ly * lx) / count
    return grad_input


# ------------------------------------------------------------------------------------------------
# Random cases
# ------------------------------------------------------------------------------------------------
def _random_rois(g, n_img, h, w, k, spatial_scale):
    """Boxes in image pixels: inside, partly and wholly outside, zero-size, inverted."""
    H, W = h / spatial_scale, w / spatial_scale
    xy1 = torch.rand(k, 2, generator=g, dtype=torch.float64) * torch.tensor([W, H]) * 1.1 \
        - torch.tensor([W, H]) * 0.15
    wh = torch.rand(k, 2, generator=g, dtype=torch.float64) * torch.tensor([W, H]) * 0.7
    boxes = torch.cat([xy1, xy1 + wh], 1)
    kinds = torch.randint(0, 6, (k,), generator=g)
    boxes[kinds == 0, 2:] = boxes[kinds == 0, :2]  # zero size
    boxes[kinds == 1] = boxes[kinds == 1][:, [2, 3, 0, 1]]  # inverted
    boxes[kinds == 2] += torch.tensor([W, H, W, H]) * 1.5  # wholly outside
    boxes[kinds == 3, 2] = boxes[kinds == 3, 0] + 0.3 / spatial_scale  # thinner than a pixel
    batch = torch.randint(0, n_img, (k, 1), generator=g).double()
    return torch.cat([batch, boxes], 1)


CASES = [  # (channels, (oh, ow), spatial_scale, sampling_ratio, aligned)
    (1, (2, 3), 1.0, -1, False),
    (3, (2, 2), 0.5, 0, True),
    (2, (3, 2), 0.25, 2, False),
    (4, (2, 3), 1 / 3, 2, True),
    (3, 3, 0.125, -1, True),
    (2, (1, 2), 0.5, 0, False),
]


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
@pytest.mark.parametrize('case', range(len(CASES)))
def test_forward_equals_kernel_transcription(dtype, case):
    channels, size, scale, ratio, aligned = CASES[case]
    g = torch.Generator().manual_seed(case)
    n_img, h, w = 2, 7, 9
    feat = torch.randn(n_img, channels, h, w, generator=g, dtype=torch.float64).to(dtype)
    rois = _random_rois(g, n_img, h, w, 10, scale).to(dtype)
    oh, ow = (size, size) if isinstance(size, int) else size
    out = roi_align(feat, rois, size, scale, ratio, aligned, backend='torch')
    ref = reference_roi_align(feat.numpy(), rois.numpy(), oh, ow, scale, ratio, aligned)
    assert out.shape == (10, channels, oh, ow) and out.dtype == dtype
    tol = 1e-13 if dtype == torch.float64 else 1e-6  # the sums run in another order
    np.testing.assert_allclose(out.numpy(), ref, rtol=0, atol=tol)
    assert (np.abs(ref).sum((1, 2, 3)) > 0).sum() >= 3  # not a case of zeros only


@pytest.mark.parametrize('case', [0, 1, 3, 4])
def test_backward_equals_kernel_transcription(case):
    channels, size, scale, ratio, aligned = CASES[case]
    g = torch.Generator().manual_seed(10 + case)
    feat = torch.randn(2, channels, 6, 8, generator=g, dtype=torch.float64, requires_grad=True)
    rois = _random_rois(g, 2, 6, 8, 8, scale)
    out = roi_align(feat, rois, size, scale, ratio, aligned, backend='torch')
    grad = torch.randn(out.shape, generator=g, dtype=torch.float64)
    out.backward(grad)
    ref = reference_roi_align_backward(grad.numpy(), rois.numpy(), tuple(feat.shape), scale,
                                       ratio, aligned)
    np.testing.assert_allclose(feat.grad.numpy(), ref, rtol=0, atol=1e-12)
    assert np.abs(ref).sum() > 0


def test_hand_worked_values():
    # a 2 x 3 map of values 10 * y + x; one bin covering x in [0.5, 2.5], y in [0, 1]
    feat = torch.tensor([[[[0., 1., 2.], [10., 11., 12.]]]])
    rois = torch.tensor([[0., 1., 0.5, 3., 1.5]])
    # aligned: box -> [0.5, 2.5] x [0, 1]; adaptive grid ceil(2 / 1) = 2 by ceil(1 / 1) = 1:
    # samples (x, y) = (1, 0.5), (2, 0.5): bilinear 10 * 0.5 + 1 = 6 and 7 -> 6.5
    assert roi_align(feat, rois, 1, aligned=True).item() == pytest.approx(6.5, abs=1e-6)
    # not aligned: box [1, 3] x [0.5, 1.5], sample x = 1.5, 2.5 -> 2.5 is clamped to the last
    # column (x = 2), y = 1.0 is the last row: values 11.5 and 12 -> 11.75
    assert roi_align(feat, rois, 1).item() == pytest.approx(11.75, abs=1e-6)
    # a sample beyond x = W contributes 0 but still counts: box x in [3.5, 4.5] aligned, one
    # x sample at 4.0 (> W = 3) -> 0
    assert roi_align(feat, torch.tensor([[0., 4., 0.5, 5., 1.5]]), 1, aligned=True).item() == 0
    # the map's border region [-1, H]: aligned box y in [-1, 0] samples y = -1.0 exactly, which
    # reads row 0 (value 1 at x = 1); y in [-1.1, -0.1] samples -1.1: outside -> 0; y in
    # [2, 3] samples y = H = 2 exactly: the last row (value 11)
    assert roi_align(feat, torch.tensor([[0., 1., -1., 2., 0.]]), 1, aligned=True).item() == 1
    assert roi_align(feat, torch.tensor([[0., 1., -1.1, 2., -0.1]]), 1, aligned=True).item() == 0
    assert roi_align(feat, torch.tensor([[0., 1., 2., 2., 3.]]), 1, aligned=True).item() == 11
    # fixed sampling_ratio=2 on the aligned box: x = 1, 2; y = 0.25, 0.75 -> mean = 6.5
    assert roi_align(feat, rois, 1, 1.0, 2, True).item() == pytest.approx(6.5, abs=1e-6)


def test_list_boxes_empty_and_module():
    g = torch.Generator().manual_seed(3)
    feat = torch.randn(2, 3, 8, 8, generator=g)
    b0 = torch.tensor([[1., 1., 6., 5.]])
    b1 = torch.tensor([[0., 0., 4., 4.], [2., 3., 7., 7.]])
    as_list = roi_align(feat, [b0, b1], (2, 2), 1.0, 2, True)
    rois = torch.cat([torch.cat([torch.zeros(1, 1), b0], 1),
                      torch.cat([torch.ones(2, 1), b1], 1)])
    assert torch.equal(as_list, roi_align(feat, rois, (2, 2), 1.0, 2, True))
    assert torch.equal(RoIAlign((2, 2), 1.0, 2, True)(feat, rois), as_list)
    # K = 0: an empty (0, C, oh, ow) result that backward accepts (zero gradient)
    feat.requires_grad_(True)
    empty = roi_align(feat, torch.zeros(0, 5), (7, 5), 0.25, 0, True)
    assert empty.shape == (0, 3, 7, 5) and empty.dtype == torch.float32
    empty.sum().backward()
    assert feat.grad is not None and not feat.grad.any()
    assert roi_align(feat, [torch.zeros(0, 4), torch.zeros(0, 4)], 7).shape == (0, 3, 7, 7)


def test_bad_arguments_name_themselves():
    feat = torch.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match=r'boxes must be a Tensor\[K, 5\]'):
        roi_align(feat, torch.zeros(3, 4), 2)
    with pytest.raises(ValueError, match=r'boxes\[1\] must be a Tensor\[L, 4\]'):
        roi_align(feat, [torch.zeros(1, 4), torch.zeros(1, 5)], 2)
    with pytest.raises(ValueError, match=r'batch indices in \[0, 1\)'):
        roi_align(feat, torch.tensor([[1., 0., 0., 2., 2.]]), 2)
    with pytest.raises(ValueError, match='output_size'):
        roi_align(feat, torch.zeros(0, 5), (2, 0))
    with pytest.raises(ValueError, match=r'input must be a float Tensor\[N, C, H, W\]'):
        roi_align(torch.zeros(2, 4, 4), torch.zeros(0, 5), 2)


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(5)
    feat = torch.randn(2, 2, 5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0, 0.3, 0.7, 4.2, 3.9], [1, -1.0, 2.0, 3.0, 6.5],
                         [1, 2.2, 1.1, 2.2, 3.0], [0, 5.5, 4.0, 1.0, 0.5]], dtype=torch.float64)
    for ratio, aligned in ((-1, True), (2, False)):
        assert torch.autograd.gradcheck(
            lambda x: roi_align(x, rois, (2, 3), 1.0, ratio, aligned, backend='torch'), (feat,))


def test_chunked_equals_unchunked(monkeypatch):
    g = torch.Generator().manual_seed(6)
    feat = torch.randn(2, 3, 12, 10, generator=g, dtype=torch.float64, requires_grad=True)
    rois = _random_rois(g, 2, 12, 10, 20, 0.5)
    grad = torch.randn(20, 3, 3, 3, generator=g, dtype=torch.float64)
    out = roi_align(feat, rois, 3, 0.5, 0, True)
    (gx,) = torch.autograd.grad(out, feat, grad)
    module = sys.modules[roi_align.__module__]
    monkeypatch.setattr(module, '_SAMPLES_PER_CHUNK', 7)  # many chunks, some a single bin
    plan = module._RoIAlignPlan(rois, 2, 12, 10, (3, 3), 0.5, 0, True)
    assert len(plan.chunks(7)) > 20
    out2 = roi_align(feat, rois, 3, 0.5, 0, True)
    (gx2,) = torch.autograd.grad(out2, feat, grad)
    torch.testing.assert_close(out2, out, rtol=0, atol=1e-13)
    torch.testing.assert_close(gx2, gx, rtol=0, atol=1e-13)


def test_half_input_is_computed_in_float32():
    g = torch.Generator().manual_seed(7)
    feat = torch.randn(1, 2, 6, 6, generator=g)
    rois = torch.tensor([[0., 0.5, 1.0, 4.0, 5.5]])
    out = roi_align(feat.to(torch.bfloat16), rois, 2, 1.0, 2, True)
    assert out.dtype == torch.bfloat16
    ref = roi_align(feat.to(torch.bfloat16).float(), rois, 2, 1.0, 2, True)
    torch.testing.assert_close(out, ref.to(torch.bfloat16), rtol=0, atol=0)


_MEMORY_SCRIPT = textwrap.dedent('''
    import resource, torch
    from hrnet_train.ops import roi_align
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    feat = torch.randn(1, 256, 200, 336, generator=g, requires_grad=True)
    # detector-like RoIs of stride 4 (sqrt(area) < 112 image px) plus a few up to the image
    k = 512
    wh = torch.rand(k, 2, generator=g) * 104 + 8
    wh[:8] = torch.rand(8, 2, generator=g) * 1000 + 300
    xy = torch.rand(k, 2, generator=g) * (torch.tensor([1344., 800.]) - wh)
    rois = torch.cat([torch.zeros(k, 1), xy, xy + wh], 1)
    roi_align(feat[:, :, :8, :8], rois[:2] / 100, 7, 0.25, 0, True).sum().backward()
    feat.grad = None

    def rss_kb(field):
        with open('/proc/self/status') as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field))

    try:  # reset the peak to now, so the import-time peak cannot hide the op's (Linux >= 4.0)
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        base = rss_kb('VmRSS:')
        measure = lambda: rss_kb('VmHWM:')
    except OSError:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        measure = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = roi_align(feat, rois, 7, 0.25, 0, True)
    out.backward(torch.ones_like(out))
    print('DELTA_MB', (measure() - base) / 1024)
''')


def test_peak_memory_stays_far_below_k_c_h_w():
    """512 RoIs x 256 ch x 7 x 7, adaptive, on a 200 x 336 stride-4 map: a dense (K, C, H, W)
    would be 35 GB; forward + backward must add no more than ~10 copies of the map (69 MB)."""
    p = subprocess.run([sys.executable, '-c', _MEMORY_SCRIPT], capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    delta_mb = float(p.stdout.split('DELTA_MB')[1])
    map_mb = 256 * 200 * 336 * 4 / 2 ** 20
    assert 0 < delta_mb < 10 * map_mb, delta_mb
