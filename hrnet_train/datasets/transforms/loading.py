"""Image loading shared by every task."""
from __future__ import annotations

import os
import struct
from typing import Callable

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from hrnet_train.registry import TRANSFORMS
from hrnet_train.utils.errors import DataError

_JPEG_SOI, _JPEG_EOI = b'\xff\xd8', b'\xff\xd9'
# PNG signature, and the last 8 bytes of every PNG: the IEND chunk type and its CRC (PNG spec).
_PNG_SIGNATURE, _PNG_IEND = b'\x89PNG\r\n\x1a\n', b'IEND\xaeB`\x82'
# Bytes inspected per step when skipping trailing zero padding; cameras pad to a block size.
_TAIL_CHUNK = 4096
# JPEG frame headers whose decoding libjpeg can scale by 1/2, 1/4, 1/8 (ITU-T T.81 table B.1):
# SOF0 baseline, SOF1 extended and SOF2 progressive Huffman DCT. The other SOFn (lossless,
# arithmetic, hierarchical) are decoded in full at load time.
_SCALABLE_SOF = (0xC0, 0xC1, 0xC2)
_OTHER_SOF = frozenset(range(0xC3, 0xD0)) - {0xC4, 0xC8, 0xCC}  # 0xC4 DHT, 0xC8 JPG, 0xCC DAC
_EXIF_ORIENTATION_TAG = 0x0112
# Decode reductions cv2 offers for JPEG (libjpeg DCT scaling), largest first.
REDUCTIONS = (8, 4, 2)
_REDUCED_FLAG = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                 8: cv2.IMREAD_REDUCED_COLOR_8, 1: cv2.IMREAD_COLOR}
# OpenCV >= 4.10 decodes straight to RGB (libjpeg JCS_EXT_RGB: the same bytes as BGR reversed,
# checked on the bundled COCO images), saving the full-size cvtColor.
_RGB_FLAG = getattr(cv2, 'IMREAD_COLOR_RGB', None)


def _decode_flag(reduction: int, to_rgb: bool) -> tuple[int, bool]:
    """The cv2.imdecode flag for a 1/reduction colour decode, and whether BGR->RGB is still due."""
    flag = _REDUCED_FLAG[reduction]
    if to_rgb and _RGB_FLAG is not None:
        return (flag & ~cv2.IMREAD_COLOR) | _RGB_FLAG, False
    return flag, to_rgb


def _end_without_zero_padding(data: np.ndarray) -> int:
    """Length of ``data`` (1-D uint8) once trailing zero bytes are dropped."""
    end = len(data)
    if end and data[end - 1]:
        return end  # the usual case: no padding
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        nonzero = np.flatnonzero(data[start:end])
        if len(nonzero):
            return start + int(nonzero[-1]) + 1
        end = start
    return 0


def _missing_end_marker(data: np.ndarray) -> str | None:
    """What is missing at the end of a JPEG or PNG file, or None (complete, or another format).

    Args:
        data: (N,) uint8, the whole file.
    """
    head = data[:8].tobytes()
    if head.startswith(_JPEG_SOI):
        end = _end_without_zero_padding(data)
        if data[max(0, end - 2):end].tobytes() != _JPEG_EOI:
            return 'no JPEG end-of-image marker FFD9'
    elif head == _PNG_SIGNATURE:
        end = _end_without_zero_padding(data)
        if data[max(0, end - 8):end].tobytes() != _PNG_IEND:
            return 'no PNG IEND chunk'
    return None


def _read_checked(path: str) -> np.ndarray:
    """The whole file as (N,) uint8, after the existence and end-marker checks of read_image."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'image file not found: {path}')
    data = np.fromfile(path, dtype=np.uint8)
    missing = _missing_end_marker(data)
    if missing is not None:
        raise DataError(f'image file {path} is truncated or corrupt ({missing} at the end)')
    return data


def _exif_orientation(tiff: bytes) -> int:
    """The EXIF orientation tag (1..8) of a TIFF-structured EXIF block; 1 when absent, 0 when
    the block cannot be read (the caller then decodes in full, as cv2 would read it)."""
    order = {b'II': '<', b'MM': '>'}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return 0
    try:
        ifd, = struct.unpack_from(order + 'I', tiff, 4)
        count, = struct.unpack_from(order + 'H', tiff, ifd)
        for i in range(count):
            tag, = struct.unpack_from(order + 'H', tiff, ifd + 2 + 12 * i)
            if tag == _EXIF_ORIENTATION_TAG:
                value, = struct.unpack_from(order + 'H', tiff, ifd + 2 + 12 * i + 8)
                return value
    except struct.error:
        return 0
    return 1


def jpeg_reducible_size(data: np.ndarray) -> tuple[int, int] | None:
    """(H, W) of a JPEG that cv2 can decode at 1/2, 1/4 or 1/8 scale, read from its header.

    The markers are walked up to the frame header (SOFn): the size is returned for an 8-bit
    baseline, extended or progressive Huffman JPEG without an EXIF orientation other than 1
    (cv2 rotates such images on decoding; they are decoded in full instead).

    Args:
        data: (N,) uint8, the whole file.

    Returns:
        (height, width) in pixels, or None: not a JPEG, another coding, a rotated EXIF
        orientation, a header that does not parse, or a size given later by a DNL marker.
    """
    buf = memoryview(data)
    n = len(buf)
    if n < 4 or bytes(buf[:2]) != _JPEG_SOI:
        return None
    pos = 2
    while pos + 4 <= n:
        if buf[pos] != 0xFF:
            return None
        marker = buf[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # TEM, RSTn, SOI: no length field
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI or SOS before any frame header
            return None
        length = (buf[pos + 2] << 8) | buf[pos + 3]
        if length < 2 or pos + 2 + length > n:
            return None
        if marker == 0xE1 and bytes(buf[pos + 4:pos + 10]) == b'Exif\x00\x00':
            if _exif_orientation(bytes(buf[pos + 10:pos + 2 + length])) != 1:
                return None
        elif marker in _SCALABLE_SOF:
            if length < 8 or buf[pos + 4] != 8:  # sample precision 8 bits
                return None
            h = (buf[pos + 5] << 8) | buf[pos + 6]
            w = (buf[pos + 7] << 8) | buf[pos + 8]
            return (h, w) if h and w else None
        elif marker in _OTHER_SOF:
            return None
        pos += 2 + length
    return None


def read_image(path: str, *, to_rgb: bool = True) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8, RGB by default.

    The file is read once and decoded from memory. JPEG and PNG files must end with their end
    marker (JPEG FFD9, PNG IEND; trailing zero bytes after it are allowed, as some cameras write
    them): a truncated JPEG would otherwise decode without an error, its missing part grey.

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        DataError: naming the file when it is truncated or cannot be decoded.
    """
    return _decode(_read_checked(path), path, 1, to_rgb)


def _decode(data: np.ndarray, path: str, reduction: int, to_rgb: bool) -> np.ndarray:
    flag, convert = _decode_flag(reduction, to_rgb)
    img = cv2.imdecode(data, flag)
    if img is None:
        raise DataError(f'could not decode image file {path} (not an image, or corrupt)')
    if convert:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


def _cached(images: dict[int, np.ndarray], reduction: int,
            decode: Callable[[int], np.ndarray]) -> np.ndarray:
    """``images[reduction]``, decoded with ``decode(reduction)`` and stored read-only on the
    first request (readers share it; a writer takes a copy)."""
    img = images.get(reduction)
    if img is None:
        img = images[reduction] = decode(reduction)
        img.flags.writeable = False
    return img


class DeferredImage:
    """A JPEG read and checked but not decoded yet, optionally mirrored; stands in for ``img``.

    ``LoadImage(reduced_decode=True)`` puts it in ``results['img']``. ``RandomFlip`` mirrors it
    without pixels (:meth:`mirrored`) and ``TopdownAffine`` decodes it once, at the reduction its
    crop allows, warping straight from the reduced image. Every other use of its pixels (array
    conversion, indexing, ``.shape`` and other array attributes) raises a one-line error naming
    the file.

    Coordinates: image pixels are those of the full decoded image (H, W), mirrored as
    ``x -> W - 1 - x`` when :attr:`flipped` (the convention of ``cv2.flip`` and of the keypoint
    flip). libjpeg's 1/r decode has size (ceil(H / r), ceil(W / r)); its pixel u averages
    original pixels [u r, (u + 1) r), so its centre is original ``x = r u + (r - 1) / 2``
    (checked against INTER_AREA block means on the bundled COCO images).

    Args:
        path: the image file (for messages).
        data: (N,) uint8, the whole file.
        size: (H, W) of the full image, from the JPEG frame header.
        to_rgb: decode to RGB (else BGR).
        margin: decode at 1/r only when the warp takes at least ``r * margin`` image pixels per
            output pixel (1: the warp never upsamples the reduced image).
        flipped: the image is mirrored horizontally.
        cache: the decoded images of this file by reduction (``LoadImage(cache_last=True)``),
            or None: :meth:`decode` then looks there first and stores what it decodes.
    """

    __slots__ = ('path', 'data', 'height', 'width', 'to_rgb', 'margin', 'flipped', 'cache')

    def __init__(self, path: str, data: np.ndarray, size: tuple[int, int], *,
                 to_rgb: bool = True, margin: float = 1.0, flipped: bool = False,
                 cache: dict[int, np.ndarray] | None = None) -> None:
        self.path = path
        self.data = data
        self.height, self.width = int(size[0]), int(size[1])
        self.to_rgb = to_rgb
        self.margin = float(margin)
        self.flipped = flipped
        self.cache = cache

    def __getattr__(self, name: str):
        if name.startswith('__'):
            raise AttributeError(name)  # copy/pickle protocol probes
        raise AttributeError(self._not_decoded(f'has no attribute {name!r}'))

    def __array__(self, *args, **kwargs):
        raise TypeError(self._not_decoded('cannot be converted to an array'))

    def __getitem__(self, key):
        raise TypeError(self._not_decoded('cannot be indexed'))

    def _not_decoded(self, what: str) -> str:
        return (f'image {self.path} is not decoded ({what}): LoadImage(reduced_decode=True) '
                'leaves decoding to TopdownAffine, and only RandomFlip and TopdownAffine accept '
                'it before; use LoadImage() in this pipeline')

    def __repr__(self) -> str:
        return (f'DeferredImage({self.path!r}, size=({self.height}, {self.width}), '
                f'flipped={self.flipped})')

    def mirrored(self) -> DeferredImage:
        """The same image mirrored horizontally (a new object; no pixels are touched)."""
        return DeferredImage(self.path, self.data, (self.height, self.width),
                             to_rgb=self.to_rgb, margin=self.margin, flipped=not self.flipped,
                             cache=self.cache)

    def reduction_for(self, step: float) -> int:
        """Largest r in {1, 2, 4, 8} with ``r * margin <= step``.

        Args:
            step: image pixels per output pixel along the warp's most stretched direction.
        """
        return next((r for r in REDUCTIONS if r * self.margin <= step), 1)

    def decode(self, reduction: int = 1) -> np.ndarray:
        """Decode the file at 1/reduction, not mirrored (a copy of the cached decode, if any).

        Returns:
            (ceil(H / r), ceil(W / r), 3) uint8, RGB unless ``to_rgb=False``; the caller's own
            array.
        """
        if reduction not in _REDUCED_FLAG:
            raise ValueError(f'reduction must be one of 1, 2, 4, 8, got {reduction}')
        if self.cache is not None:
            return self.pixels(reduction).copy()
        return self._decode_checked(reduction)

    def pixels(self, reduction: int = 1) -> np.ndarray:
        """:meth:`decode`, for a caller that only reads the pixels: with a cache, its own
        array (read-only, shared with the next requests for this image) instead of a copy."""
        if self.cache is None:
            return self.decode(reduction)
        if reduction not in _REDUCED_FLAG:
            raise ValueError(f'reduction must be one of 1, 2, 4, 8, got {reduction}')
        return _cached(self.cache, reduction, self._decode_checked)

    def _decode_checked(self, reduction: int) -> np.ndarray:
        img = _decode(self.data, self.path, reduction, self.to_rgb)
        expected = (-(-self.height // reduction), -(-self.width // reduction))
        if img.shape[:2] != expected:
            raise DataError(f'image file {self.path} decoded at 1/{reduction} to '
                            f'{img.shape[1]}x{img.shape[0]}, its header gives '
                            f'{self.width}x{self.height} (expected {expected[1]}x{expected[0]})')
        return img

    def reduced_to_image(self, reduction: int) -> np.ndarray:
        """(3, 3) float64 affine matrix, pixels of :meth:`decode` (reduction) -> image pixels
        (mirrored when :attr:`flipped`): ``x = r u + (r - 1) / 2``, then ``x -> W - 1 - x``."""
        r = float(reduction)
        off = (r - 1) / 2
        mat = np.array([[r, 0., off], [0., r, off], [0., 0., 1.]])
        if self.flipped:
            mat[0] = [-r, 0., self.width - 1 - off]
        return mat


@TRANSFORMS.register_module()
class LoadImage(BaseTransform):
    """Read ``img_path`` from disk with :func:`read_image` (truncated JPEG/PNG files are errors).

    With ``reduced_decode=True`` a JPEG is read and checked (end marker) here, but decoded only
    by ``TopdownAffine``, at 1/2, 1/4 or 1/8 of the size when the person box is at least that
    many times larger than the model input (libjpeg DCT scaling: the entropy decoding is not
    scaled, so a 1/2 to 1/8 decode still takes ~50-80 % of the full one; the crop is closer to
    an anti-aliased resample than the full decode's, a few grey levels from it, see
    docs/benchmark.md). No flipped copy is made either (RandomFlip marks the image, TopdownAffine
    folds the mirror into its warp). ``results['img']`` is then a :class:`DeferredImage`; of the
    transforms before the warp only ``RandomFlip`` and ``TopdownAffine`` touch it, so it suits the
    top-down pose pipelines only; any other use of its pixels is a one-line error. Other formats,
    JPEGs cv2 would rotate (EXIF orientation) and non-DCT-scalable JPEGs are decoded here in full.

    With ``cache_last=True`` the last file read is kept (its bytes and its decoded pixels, per
    decode reduction) and a request for the same file (same path, size and modification time)
    is answered with a copy of those pixels instead of a decode: bit-identical, and a copy
    (~0.03 ms for a 640x480 image) instead of a decode (~3 ms). It pays when the instances of one
    image come one after another: top-down evaluation (the instances are in image order) and
    training with ``ImageGroupedSampler``; in a shuffled order it almost never hits and costs the
    copy. Each DataLoader worker keeps its own last image.

    Reads:   img_path
    Adds:    img (H, W, 3) uint8 (RGB unless ``to_rgb=False``) or a DeferredImage of that size,
             img_shape (H, W), ori_shape (H, W): the full image's size either way

    Args:
        to_rgb: RGB (default) or BGR channel order.
        reduced_decode: defer decoding to ``TopdownAffine`` (off by default).
        reduced_decode_margin: decode at 1/r only when the warp takes at least ``r * margin``
            image pixels per input pixel (1.0: the warp never upsamples the reduced image;
            larger is closer to the full decode, and less often reduced).
        cache_last: keep the last image and answer repeated requests for it with a copy (off
            by default).
    """

    def __init__(self, *, to_rgb: bool = True, reduced_decode: bool = False,
                 reduced_decode_margin: float = 1.0, cache_last: bool = False) -> None:
        for name, value in (('reduced_decode', reduced_decode), ('cache_last', cache_last)):
            if not isinstance(value, bool):
                raise ValueError(f'{name} must be True or False, got {value!r}')
        if not reduced_decode_margin > 0:
            raise ValueError(f'reduced_decode_margin must be > 0, got {reduced_decode_margin}')
        self.to_rgb = to_rgb
        self.reduced_decode = reduced_decode
        self.reduced_decode_margin = float(reduced_decode_margin)
        self.cache_last = cache_last
        self._last: _LastImage | None = None

    def _read(self, path: str) -> _LastImage:
        """The file's bytes (checked) and JPEG size, from the cache when it holds this file."""
        key = None
        if self.cache_last:
            try:
                st = os.stat(path)
                key = (path, st.st_size, st.st_mtime_ns)
            except OSError:
                pass  # _read_checked names the missing file
            if key is not None and self._last is not None and self._last.key == key:
                return self._last
        data = _read_checked(path)
        size = jpeg_reducible_size(data) if self.reduced_decode else None
        entry = _LastImage(key, data, size, {} if self.cache_last else None)
        if self.cache_last:
            self._last = entry
        return entry

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        entry = self._read(path)
        if entry.size is not None:
            results['img'] = DeferredImage(path, entry.data, entry.size, to_rgb=self.to_rgb,
                                           margin=self.reduced_decode_margin,
                                           cache=entry.images)
            results['img_shape'] = entry.size
            results['ori_shape'] = entry.size
            return results
        def decode(reduction: int) -> np.ndarray:
            return _decode(entry.data, path, reduction, self.to_rgb)

        if entry.images is None:
            img = decode(1)
        else:
            img = _cached(entry.images, 1, decode).copy()
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(to_rgb={self.to_rgb}, '
                f'reduced_decode={self.reduced_decode}, '
                f'reduced_decode_margin={self.reduced_decode_margin}, '
                f'cache_last={self.cache_last})')


class _LastImage:
    """What ``LoadImage`` knows of the file it read last: key (path, size, mtime_ns) or None,
    the checked bytes, the JPEG size when it decodes reduced (else None), and its decoded
    images by reduction (None without ``cache_last``)."""

    __slots__ = ('key', 'data', 'size', 'images')

    def __init__(self, key, data: np.ndarray, size: tuple[int, int] | None,
                 images: dict[int, np.ndarray] | None) -> None:
        self.key, self.data, self.size, self.images = key, data, size, images
