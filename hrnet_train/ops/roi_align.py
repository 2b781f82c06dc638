"""RoIAlign (He et al., "Mask R-CNN", ICCV 2017) with the signature and numbers of torchvision.

Semantics are those of pytorch/vision ``torchvision/csrc/ops/cpu/roi_align_kernel.cpp`` and
``roi_align_common.h`` (the forward kernel and ``pre_calc_for_bilinear_interpolate``):

- a box ``(b, x1, y1, x2, y2)`` in image pixels maps to ``x * spatial_scale - offset`` feature
  pixels, ``offset = 0.5`` when ``aligned`` (pixel centres on half-integers, Detectron2) else 0;
- without ``aligned`` the RoI width and height are raised to at least 1 (malformed RoIs become
  1 x 1); with it a zero-size or inverted RoI keeps its size (0 or negative);
- the RoI splits into ``oh x ow`` bins; each bin averages ``gh x gw`` bilinear samples at
  ``start + p * bin + (i + 0.5) * bin / g``, ``g = sampling_ratio`` when > 0, else the adaptive
  ``ceil(bin)`` per RoI (0 for an empty or inverted aligned RoI: the bin is 0);
- a sample outside ``[-1, H] x [-1, W]`` contributes 0 (it still counts in the average);
  otherwise coordinates below 0 are raised to 0 and those at or past the last row / column
  read that row / column.

The pure-PyTorch path (``backend='torch'``) is exact to float rounding against that kernel (the
sums run in another order; 1 ulp in tests). It is vectorised, not a loop over RoIs: bilinear
interpolation is separable, so the (y, weight) samples of every RoI row and the (x, weight)
samples of every RoI column are computed once (1-D, ``K * oh * gh`` and ``K * ow * gw`` of them),
samples outside the map are dropped there, and each bin becomes a weighted bag of 4
feature-pixel rows per sample, reduced by ``torch.nn.functional.embedding_bag`` over the
(N * H * W, C) channels-last copy of the input (no copy when the input is channels_last). Bins
are processed in chunks of at most ``_SAMPLES_PER_CHUNK`` samples, so memory stays bounded
whatever the RoIs: a few copies of the input plus the output, never (K, C, H, W) (512 RoIs x
256 channels x 7 x 7 on a 200 x 336 map add ~0.3 GB for forward + backward). The backward pass
(a custom ``autograd.Function``) scatters the bin gradients back with the same bags transposed
(sorted by feature pixel; the forward's bags are reused when they were one chunk) into an
(N, C, H, W) gradient; it is not itself differentiable (no double backward). One difference
from the kernel, for non-finite features only: an out-of-map sample is skipped, where the kernel
adds ``0 * input[.., 0, 0]`` (NaN when that pixel is NaN or inf).
"""
from __future__ import annotations

from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from ._backend import resolve_backend, torchvision_ops

# Bilinear samples (4 feature-pixel reads each) per embedding_bag call: a chunk's index and
# weight tensors take ~200 bytes a sample while it is built (~50 MB), 48 bytes once built.
_SAMPLES_PER_CHUNK = 1 << 18


def _pair(output_size: Union[int, Sequence[int]]) -> tuple[int, int]:
    size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    if len(size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                                 for s in size):
        raise ValueError(f'output_size must be a positive int or (height, width) of positive '
                         f'ints, got {output_size!r}')
    return size


def _as_rois(boxes: Union[Tensor, Sequence[Tensor]], input: Tensor, dtype: torch.dtype) -> Tensor:
    """``boxes`` as a detached (K, 5) ``(batch index, x1, y1, x2, y2)`` tensor of ``dtype``."""
    if isinstance(boxes, Tensor):
        if boxes.dim() != 2 or boxes.shape[1] != 5:
            raise ValueError(f'boxes must be a Tensor[K, 5] (batch index, x1, y1, x2, y2) or a '
                             f'list of Tensor[L, 4], got a tensor of shape {tuple(boxes.shape)}')
        rois = boxes
    elif isinstance(boxes, (list, tuple)):
        for i, b in enumerate(boxes):
            if not isinstance(b, Tensor) or b.dim() != 2 or b.shape[1] != 4:
                shape = tuple(b.shape) if isinstance(b, Tensor) else type(b).__name__
                raise ValueError(f'boxes[{i}] must be a Tensor[L, 4] (x1, y1, x2, y2) of image '
                                 f'{i}, got {shape}')
        # torchvision ops/_utils.py convert_boxes_to_roi_format: the list position is the image
        parts = [torch.cat([torch.full_like(b[:, :1], i), b], dim=1) for i, b in enumerate(boxes)]
        rois = torch.cat(parts) if parts else input.new_zeros(0, 5)
    else:
        raise TypeError(f'boxes must be a Tensor[K, 5] or a list of Tensor[L, 4], got '
                        f'{type(boxes).__name__}')
    return rois.detach().to(device=input.device, dtype=dtype)


def _exclusive_cumsum(x: Tensor) -> Tensor:
    return torch.cumsum(x, 0) - x


class _AxisSamples:
    """The 1-D samples of one axis (y with the bin rows, or x with the bin columns) of all RoIs.

    Attributes (V = samples inside ``[-1, size]``, in (RoI, bin, sample) order):
        low, high: (V,) int64 pixel indices read (equal at the last pixel), times ``stride``
            plus ``base[roi]`` (so y rows can carry the image offset ``b * H * W``).
        w_low, w_high: (V,) weights of ``low`` and ``high`` (``1 - l`` and ``l``).
        counts: (K * n_bins,) int64 kept samples per (RoI, bin).
        starts: (K * n_bins,) int64 position of each (RoI, bin)'s first sample in the V arrays.
    """

    def __init__(self, start: Tensor, bin_size: Tensor, grid: Tensor, n_bins: int, size: int,
                 *, stride: int = 1, base: Tensor | None = None) -> None:
        k = start.shape[0]
        device, dtype = start.device, start.dtype
        per_roi = grid * n_bins
        total = int(per_roi.sum())
        roi = torch.repeat_interleave(torch.arange(k, device=device), per_roi,
                                      output_size=total)  # (S,)
        t = torch.arange(total, device=device) - _exclusive_cumsum(per_roi).index_select(0, roi)
        g = grid.index_select(0, roi)
        p = torch.div(t, g, rounding_mode='floor')  # bin
        i = t - p * g  # sample within the bin
        b = bin_size.index_select(0, roi)
        # roi_start + ph * bin_size + (iy + .5f) * bin_size / roi_bin_grid, in the kernel's order
        c = start.index_select(0, roi) + p.to(dtype) * b + (i.to(dtype) + 0.5) * b / g.to(dtype)
        valid = (c >= -1.0) & (c <= size)  # False for NaN, as the kernel's !(in range)
        c = torch.where(valid, c.clamp(min=0), torch.zeros_like(c))
        low = c.long()
        edge = low >= size - 1
        low = torch.where(edge, torch.full_like(low, size - 1), low)
        high = torch.where(edge, low, low + 1)
        c = torch.where(edge, low.to(dtype), c)
        w_high = c - low.to(dtype)
        keep = valid.nonzero().squeeze(1)
        roi, low, high = roi[keep], low[keep] * stride, high[keep] * stride
        if base is not None:
            offset = base.index_select(0, roi)
            low, high = low + offset, high + offset
        self.low, self.high = low, high
        self.w_high = w_high[keep]
        self.w_low = 1.0 - self.w_high
        self.counts = torch.bincount((roi * n_bins + p[keep]), minlength=k * n_bins)
        self.starts = _exclusive_cumsum(self.counts)


class _RoIAlignPlan:
    """Where every bin of every RoI samples the map; builds the embedding_bag inputs per chunk.

    Args:
        rois: (K, 5) ``(batch index, x1, y1, x2, y2)`` in image pixels, the compute dtype.
        batch_size, height, width: of the feature map.
        output_size: (oh, ow).
        spatial_scale, sampling_ratio, aligned: as :func:`roi_align`.
    """

    def __init__(self, rois: Tensor, batch_size: int, height: int, width: int,
                 output_size: tuple[int, int], spatial_scale: float, sampling_ratio: int,
                 aligned: bool) -> None:
        oh, ow = output_size
        self.num_rois = rois.shape[0]
        self.oh, self.ow, self.height, self.width = oh, ow, height, width
        self.batch = rois[:, 0].long()  # the kernel's int cast (truncation)
        offset = 0.5 if aligned else 0.0
        # the kernel takes spatial_scale as T: a float tensor times a Python float is computed
        # in the tensor's dtype, as there
        x1 = rois[:, 1] * spatial_scale - offset
        y1 = rois[:, 2] * spatial_scale - offset
        roi_w = (rois[:, 3] * spatial_scale - offset) - x1
        roi_h = (rois[:, 4] * spatial_scale - offset) - y1
        if not aligned:  # "Force malformed ROIs to be 1x1"
            roi_w = roi_w.clamp(min=1.0)
            roi_h = roi_h.clamp(min=1.0)
        bin_h = roi_h / oh
        bin_w = roi_w / ow
        if sampling_ratio > 0:
            grid_h = torch.full_like(self.batch, sampling_ratio)
            grid_w = grid_h
        else:  # ceil(roi_height / pooled_height); a non-finite size samples nothing
            grid_h = torch.where(bin_h.isfinite(), bin_h.ceil(), 0).long().clamp(min=0)
            grid_w = torch.where(bin_w.isfinite(), bin_w.ceil(), 0).long().clamp(min=0)
        # std::max(roi_bin_grid_h * roi_bin_grid_w, 1): empty grids output 0 whatever the count
        self.count = (grid_h * grid_w).clamp(min=1).to(rois.dtype)  # (K,)
        pixels = batch_size * height * width
        # int32 rows where they fit: embedding_bag and sort are ~2x faster on them
        self.index_dtype = torch.int32 if pixels < 2 ** 31 else torch.int64
        image_offset = self.batch * (height * width)
        self.ys = _AxisSamples(y1, bin_h, grid_h, oh, height, stride=width, base=image_offset)
        self.xs = _AxisSamples(x1, bin_w, grid_w, ow, width)
        k = self.num_rois
        self.bag_sizes = (self.ys.counts.view(k, oh, 1)
                          * self.xs.counts.view(k, 1, ow)).reshape(-1)  # (K * oh * ow,)
        self.bag_ends = torch.cumsum(self.bag_sizes, 0)
        self.bag_starts = self.bag_ends - self.bag_sizes
        # per bin: its first y / x sample and its number of x samples
        y_row = torch.arange(k * oh, device=rois.device).view(k, oh, 1).expand(k, oh, ow)
        x_row = torch.arange(k * ow, device=rois.device).view(k, 1, ow).expand(k, oh, ow)
        self.bag_y0 = self.ys.starts.index_select(0, y_row.reshape(-1))
        self.bag_x0 = self.xs.starts.index_select(0, x_row.reshape(-1))
        self.bag_nx = self.xs.counts.index_select(0, x_row.reshape(-1))
        # per bin: count, the divisor of the average
        self.bag_count = self.count.repeat_interleave(oh * ow)

    def chunks(self, budget: int) -> list[tuple[int, int]]:
        """Consecutive bin ranges ``[b0, b1)`` of at most ``budget`` samples (or one bin)."""
        ends = self.bag_ends.cpu()
        n = ends.numel()
        out, b0 = [], 0
        while b0 < n:
            base = int(ends[b0 - 1]) if b0 else 0
            b1 = int(torch.searchsorted(ends, base + budget, right=True))
            b1 = max(b1, b0 + 1)
            out.append((b0, b1))
            b0 = b1
        return out

    def entries(self, b0: int, b1: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """embedding_bag inputs of bins ``[b0, b1)``.

        Returns:
            indices: (4S,) ``index_dtype`` rows of the (N * H * W, C) map, per sample the
                kernel's ``pos1..pos4`` (low/low, low/high, high/low, high/high).
            weights: (4S,) the kernel's ``w1..w4``.
            offsets: (b1 - b0,) ``index_dtype`` first entry of each bin.
            bags: (4S,) ``index_dtype`` bin of each entry, counted from ``b0``.
        """
        device = self.bag_sizes.device
        base = self.bag_starts[b0]
        sizes = self.bag_sizes[b0:b1]
        n = int(self.bag_ends[b1 - 1] - base)
        bag = torch.repeat_interleave(torch.arange(b0, b1, device=device), sizes, output_size=n)
        s = torch.arange(n, device=device) - (self.bag_starts.index_select(0, bag) - base)
        nx = self.bag_nx.index_select(0, bag)
        jy = torch.div(s, nx, rounding_mode='floor')
        iy = self.bag_y0.index_select(0, bag) + jy
        ix = self.bag_x0.index_select(0, bag) + (s - jy * nx)
        del s, jy, nx
        y_low, y_high = self.ys.low.index_select(0, iy), self.ys.high.index_select(0, iy)
        x_low, x_high = self.xs.low.index_select(0, ix), self.xs.high.index_select(0, ix)
        indices = torch.stack([y_low + x_low, y_low + x_high, y_high + x_low, y_high + x_high],
                              dim=1).view(-1).to(self.index_dtype)  # (4S,)
        del y_low, y_high, x_low, x_high
        hy, ly = self.ys.w_low.index_select(0, iy), self.ys.w_high.index_select(0, iy)
        hx, lx = self.xs.w_low.index_select(0, ix), self.xs.w_high.index_select(0, ix)
        weights = torch.stack([hy * hx, hy * lx, ly * hx, ly * lx], dim=1).view(-1)  # (4S,)
        offsets = (4 * (self.bag_starts[b0:b1] - base)).to(self.index_dtype)
        bags = (bag - b0).to(self.index_dtype).repeat_interleave(4)
        return indices, weights, offsets, bags


class _RoIAlignFunction(torch.autograd.Function):

    @staticmethod
    def forward(ctx, input: Tensor, plan: _RoIAlignPlan) -> Tensor:
        n, c, h, w = input.shape
        k, oh, ow = plan.num_rois, plan.oh, plan.ow
        ctx.plan = plan
        ctx.input_shape = (n, c, h, w)
        ctx.entries = None
        out = input.new_zeros(k * oh * ow, c)
        if out.numel() and n * h * w:
            # (N * H * W, C) channels-last rows; no copy when the input is channels_last
            table = input.permute(0, 2, 3, 1).contiguous().view(n * h * w, c)
            chunks = plan.chunks(_SAMPLES_PER_CHUNK)
            for b0, b1 in chunks:
                entries = plan.entries(b0, b1)
                indices, weights, offsets, _ = entries
                out[b0:b1] = F.embedding_bag(indices, table, offsets, mode='sum',
                                             per_sample_weights=weights)
            if len(chunks) == 1:  # small enough to keep for backward (~48 bytes a sample)
                ctx.entries = entries
            out /= plan.bag_count[:, None]  # output_val /= count
        return out.view(k, oh, ow, c).permute(0, 3, 1, 2).contiguous()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: Tensor):
        plan: _RoIAlignPlan = ctx.plan
        n, c, h, w = ctx.input_shape
        grad_input = grad_output.new_zeros(n, c, h * w)
        if grad_output.numel() and n * h * w:
            k, oh, ow = plan.num_rois, plan.oh, plan.ow
            grad_bins = grad_output.permute(0, 2, 3, 1).reshape(k * oh * ow, c)
            grad_bins = grad_bins / plan.bag_count[:, None]
            for b0, b1 in plan.chunks(_SAMPLES_PER_CHUNK):
                indices, weights, _, bags = ctx.entries or plan.entries(b0, b1)
                if indices.numel() == 0:
                    continue
                # the bags transposed: one per feature pixel read, gathering bin gradients
                pixels, order = torch.sort(indices)
                pixels, counts = torch.unique_consecutive(pixels, return_counts=True)
                grad_pix = F.embedding_bag(bags.index_select(0, order), grad_bins[b0:b1],
                                           _exclusive_cumsum(counts).to(bags.dtype),
                                           mode='sum',
                                           per_sample_weights=weights.index_select(0, order))
                pixels = pixels.long()
                # scatter into the (N, C, H * W) gradient image by image: columns of C values
                cuts = torch.searchsorted(pixels, torch.arange(n + 1, device=pixels.device)
                                          * (h * w)).tolist()
                for b in range(n):
                    if cuts[b + 1] > cuts[b]:
                        grad_input[b].index_add_(1, pixels[cuts[b]:cuts[b + 1]] - b * h * w,
                                                 grad_pix[cuts[b]:cuts[b + 1]].t().contiguous())
            ctx.entries = None
        return grad_input.view(n, c, h, w), None


def _roi_align_torch(input: Tensor, rois: Tensor, output_size: tuple[int, int],
                     spatial_scale: float, sampling_ratio: int, aligned: bool) -> Tensor:
    n, _, h, w = input.shape
    plan = _RoIAlignPlan(rois, n, h, w, output_size, spatial_scale, sampling_ratio, aligned)
    return _RoIAlignFunction.apply(input, plan)


def roi_align(input: Tensor, boxes: Union[Tensor, Sequence[Tensor]],
              output_size: Union[int, tuple[int, int]], spatial_scale: float = 1.0,
              sampling_ratio: int = -1, aligned: bool = False, *,
              backend: str | None = None) -> Tensor:
    """RoIAlign with average pooling: ``torchvision.ops.roi_align``'s signature and numbers.

    Args:
        input: (N, C, H, W) float feature map (float16 / bfloat16 are computed in float32).
        boxes: (K, 5) ``(batch index, x1, y1, x2, y2)`` in image pixels (continuous, as
            ``hrnet_train.structures``), or a list of N (L_i, 4) ``x1, y1, x2, y2`` tensors, one
            per image. Cast to the input's dtype and device; they receive no gradient.
        output_size: ``oh`` (square) or ``(oh, ow)`` bins.
        spatial_scale: feature pixels per image pixel, ``1 / stride``.
        sampling_ratio: samples per bin along each axis; <= 0 is adaptive,
            ``ceil(roi_size / output_size)`` per RoI and axis.
        aligned: shift the boxes by -0.5 feature pixels (Detectron2 / mmdet 3.x ``aligned=True``)
            and keep their real size; False is the legacy behaviour (sizes at least 1).
        backend: ``'torch'``, ``'torchvision'`` or ``'auto'``; None reads ``$HRNET_OPS_BACKEND``
            (default ``'auto'``), see :mod:`hrnet_train.ops._backend`.

    Returns:
        (K, C, oh, ow) pooled features, the input's dtype, differentiable with respect to
        ``input``; (0, C, oh, ow) when K = 0.
    """
    if not isinstance(input, Tensor) or input.dim() != 4 or not input.is_floating_point():
        shape = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
        raise ValueError(f'input must be a float Tensor[N, C, H, W], got {shape}')
    size = _pair(output_size)
    use = resolve_backend(backend)
    dtype = input.dtype if input.dtype in (torch.float32, torch.float64) else torch.float32
    rois = _as_rois(boxes, input, dtype if use == 'torch' else input.dtype)
    if rois.shape[0]:
        batch = rois[:, 0].long()
        if bool((batch < 0).any()) or bool((batch >= input.shape[0]).any()):
            raise ValueError(f'boxes[:, 0] must be batch indices in [0, {input.shape[0]}), got '
                             f'{sorted(set(batch.tolist()))[:8]}')
    if use == 'torchvision':
        return torchvision_ops().roi_align(input, rois, size, spatial_scale, sampling_ratio,
                                           aligned)
    out = _roi_align_torch(input.to(dtype), rois, size, float(spatial_scale),
                           int(sampling_ratio), bool(aligned))
    return out.to(input.dtype)


class RoIAlign(nn.Module):
    """:func:`roi_align` as a module (``torchvision.ops.RoIAlign``'s arguments).

    Args:
        output_size, spatial_scale, sampling_ratio, aligned, backend: see :func:`roi_align`.

    Shapes:
        input: (N, C, H, W); rois: (K, 5) or a list of (L_i, 4); returns (K, C, oh, ow).
    """

    def __init__(self, output_size: Union[int, tuple[int, int]], spatial_scale: float,
                 sampling_ratio: int, aligned: bool = False, *,
                 backend: str | None = None) -> None:
        super().__init__()
        self.output_size = _pair(output_size)
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned
        self.backend = backend

    def forward(self, input: Tensor, rois: Union[Tensor, Sequence[Tensor]]) -> Tensor:
        return roi_align(input, rois, self.output_size, self.spatial_scale,
                         self.sampling_ratio, self.aligned, backend=self.backend)

    def extra_repr(self) -> str:
        return (f'output_size={self.output_size}, spatial_scale={self.spatial_scale}, '
                f'sampling_ratio={self.sampling_ratio}, aligned={self.aligned}')
