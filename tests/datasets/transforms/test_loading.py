"""LoadImage: RGB order, shapes, and one-line errors naming the file."""
import cv2
import numpy as np
import pytest

from hrnet_train.datasets.transforms.loading import LoadImage, read_image
from hrnet_train.utils.errors import DataError

IMG = 'data/coco_tiny/val2017/000000000785.jpg'


def test_reads_rgb(monkeypatch):
    from pathlib import Path
    monkeypatch.chdir(Path(__file__).resolve().parents[3])
    out = LoadImage()(dict(img_path=IMG))
    assert out['img'].shape == (425, 640, 3) and out['img'].dtype == np.uint8
    assert out['img_shape'] == out['ori_shape'] == (425, 640)
    bgr = cv2.imread(IMG)
    assert np.array_equal(out['img'], bgr[..., ::-1])
    assert np.array_equal(LoadImage(to_rgb=False)(dict(img_path=IMG))['img'], bgr)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'image file not found: .*nope\.jpg'):
        LoadImage()(dict(img_path=str(tmp_path / 'nope.jpg')))
    bad = tmp_path / 'bad.jpg'
    bad.write_bytes(b'not a jpeg')
    with pytest.raises(DataError, match=r'^could not decode image file .*bad\.jpg'):
        LoadImage()(dict(img_path=str(bad)))


def test_missing_image_in_a_coco_dataset_names_the_file(tmp_path):
    """A dataset whose annotation points at a missing image fails at load with the path."""
    import json

    from hrnet_train.datasets.coco_keypoints import CocoKeypointDataset
    ann = dict(images=[dict(id=1, file_name='gone.jpg', width=100, height=80)],
               annotations=[dict(id=7, image_id=1, category_id=1, iscrowd=0, area=400.,
                                 bbox=[10, 10, 20, 20], num_keypoints=1,
                                 keypoints=[15, 15, 2] + [0, 0, 0] * 16)],
               categories=[dict(id=1, name='person')])
    (tmp_path / 'ann.json').write_text(json.dumps(ann))
    ds = CocoKeypointDataset(ann_file=str(tmp_path / 'ann.json'),
                             data_prefix=dict(img=str(tmp_path) + '/'),
                             pipeline=[dict(type='LoadImage')], test_mode=True)
    with pytest.raises(FileNotFoundError, match=r'image file not found: .*gone\.jpg'):
        ds[0]


def _bundled_bytes() -> bytes:
    from pathlib import Path
    return (Path(__file__).resolve().parents[3] / IMG).read_bytes()


@pytest.mark.parametrize('keep', [0.6, 0.3, 'all but the end marker'])
def test_truncated_jpeg_is_an_error(tmp_path, keep):
    """cv2.imread decodes a cut JPEG without an error, its missing rows grey."""
    data = _bundled_bytes()
    cut = data[:-2] if isinstance(keep, str) else data[:int(len(data) * keep)]
    path = tmp_path / 'cut.jpg'
    path.write_bytes(cut)
    with pytest.raises(DataError, match=r'^image file .*cut\.jpg is truncated or corrupt '
                                        r'\(no JPEG end-of-image marker FFD9 at the end\)$'):
        LoadImage()(dict(img_path=str(path)))
    with pytest.raises(DataError, match='truncated or corrupt'):
        read_image(str(path), to_rgb=False)


def test_jpeg_with_zero_padding_after_the_end_marker_loads(tmp_path):
    """Some cameras pad the file with zero bytes after FFD9; 10000 spans several tail chunks."""
    data = _bundled_bytes()
    path = tmp_path / 'padded.jpg'
    path.write_bytes(data + bytes(10000))
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    np.testing.assert_array_equal(read_image(str(path)), expected)


@pytest.mark.parametrize('keep', [0.6, 'all but IEND'])
def test_truncated_png_is_an_error(tmp_path, keep):
    img = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    data = cv2.imencode('.png', img)[1].tobytes()
    path = tmp_path / 'whole.png'
    path.write_bytes(data)
    np.testing.assert_array_equal(read_image(str(path), to_rgb=False), img)
    cut = data[:-12] if isinstance(keep, str) else data[:int(len(data) * keep)]
    path = tmp_path / 'cut.png'
    path.write_bytes(cut)
    with pytest.raises(DataError, match=r'^image file .*cut\.png is truncated or corrupt '
                                        r'\(no PNG IEND chunk at the end\)$'):
        LoadImage()(dict(img_path=str(path)))


def test_each_image_is_decoded_once(tmp_path, monkeypatch):
    """The pose loader is a hot path: one read and one decode per image, no cv2.imread."""
    path = tmp_path / 'a.jpg'
    path.write_bytes(_bundled_bytes())
    import hrnet_train.datasets.transforms.loading as loading
    calls = []
    real_imdecode = cv2.imdecode

    def counting_imdecode(*args):
        calls.append('imdecode')
        return real_imdecode(*args)

    monkeypatch.setattr(loading.cv2, 'imdecode', counting_imdecode)
    monkeypatch.setattr(loading.cv2, 'imread', lambda *a: calls.append('imread'))
    assert LoadImage()(dict(img_path=str(path)))['img'].shape == (425, 640, 3)
    assert calls == ['imdecode']


# ------------------------------------------------------------------------------------------------
# Deferred (reduced-resolution) decoding
# ------------------------------------------------------------------------------------------------
def _bundled(name: str) -> str:
    from pathlib import Path
    return str(Path(__file__).resolve().parents[3] / 'data/coco_tiny/val2017' / name)


IMG_ABS = _bundled('000000000785.jpg')
BUNDLED = ('000000000785.jpg', '000000040083.jpg', '000000196141.jpg', '000000197388.jpg')


def _with_exif_orientation(data: bytes, orientation: int, byte_order: bytes = b'MM') -> bytes:
    """The JPEG with an APP1 EXIF block holding one IFD0 entry, Orientation (0x0112)."""
    import struct
    e = '>' if byte_order == b'MM' else '<'
    tiff = (byte_order + struct.pack(e + 'HI', 42, 8) + struct.pack(e + 'H', 1)
            + struct.pack(e + 'HHIHH', 0x0112, 3, 1, orientation, 0) + struct.pack(e + 'I', 0))
    payload = b'Exif\x00\x00' + tiff
    return data[:2] + b'\xff\xe1' + struct.pack('>H', len(payload) + 2) + payload + data[2:]


@pytest.mark.parametrize('name', BUNDLED)
def test_jpeg_header_size_is_the_decoded_size(name):
    from hrnet_train.datasets.transforms.loading import jpeg_reducible_size
    data = np.fromfile(_bundled(name), np.uint8)
    assert jpeg_reducible_size(data) == cv2.imdecode(data, cv2.IMREAD_COLOR).shape[:2]


def test_jpeg_header_size_none_for_other_files_and_rotated_exif():
    from hrnet_train.datasets.transforms.loading import jpeg_reducible_size
    data = _bundled_bytes()
    png = cv2.imencode('.png', np.zeros((5, 7, 3), np.uint8))[1]
    assert jpeg_reducible_size(png) is None
    assert jpeg_reducible_size(np.frombuffer(b'not a jpeg', np.uint8)) is None
    assert jpeg_reducible_size(np.frombuffer(data[:300], np.uint8)) is None  # no frame header
    for order in (b'MM', b'II'):
        upright = np.frombuffer(_with_exif_orientation(data, 1, order), np.uint8)
        assert jpeg_reducible_size(upright) == (425, 640)
        rotated = np.frombuffer(_with_exif_orientation(data, 6, order), np.uint8)
        assert jpeg_reducible_size(rotated) is None
        assert cv2.imdecode(rotated, cv2.IMREAD_COLOR).shape[:2] == (640, 425)  # cv2 rotates


@pytest.mark.parametrize('r', [2, 4, 8])
def test_reduced_decode_pixel_u_is_the_mean_of_original_pixels_ur_to_ur_plus_r(r):
    """libjpeg DCT scaling: size ceil(H / r) x ceil(W / r); pixel u averages original pixels
    [u r, (u + 1) r), centre r u + (r - 1) / 2. A block grid shifted by one original pixel is
    several times further off."""
    from hrnet_train.datasets.transforms.loading import DeferredImage
    data = np.fromfile(_bundled('000000000785.jpg'), np.uint8)
    img = DeferredImage(IMG, data, (425, 640), to_rgb=False)
    red = img.decode(r).astype(np.float32)
    assert red.shape == (-(-425 // r), -(-640 // r), 3)
    full = cv2.imdecode(data, cv2.IMREAD_COLOR).astype(np.float32)
    hh, ww = 425 // r - 2, 640 // r - 2

    def mad(shift):
        blocks = full[r + shift:r + shift + hh * r, r + shift:r + shift + ww * r]
        blocks = blocks.reshape(hh, r, ww, r, 3).mean((1, 3))
        return float(np.abs(red[1:1 + hh, 1:1 + ww] - blocks).mean())
    assert mad(0) < 0.6
    assert mad(-1) > 3 * mad(0) and mad(1) > 3 * mad(0)
    # the (3, 3) map of reduced pixels to image pixels says the same
    np.testing.assert_allclose(img.reduced_to_image(r) @ [1., 2., 1.],
                               [r + (r - 1) / 2, 2 * r + (r - 1) / 2, 1.])
    np.testing.assert_allclose(img.mirrored().reduced_to_image(r) @ [1., 2., 1.],
                               [639 - r - (r - 1) / 2, 2 * r + (r - 1) / 2, 1.])


def test_reduced_decode_defers_jpeg_and_keeps_the_checks(tmp_path):
    from hrnet_train.datasets.transforms.loading import DeferredImage
    out = LoadImage(reduced_decode=True)(dict(img_path=IMG_ABS))
    img = out['img']
    assert isinstance(img, DeferredImage) and not img.flipped
    assert out['img_shape'] == out['ori_shape'] == (425, 640)
    assert (img.height, img.width) == (425, 640)
    np.testing.assert_array_equal(img.decode(1), read_image(IMG_ABS))
    np.testing.assert_array_equal(LoadImage(reduced_decode=True, to_rgb=False)(
        dict(img_path=IMG_ABS))['img'].decode(1), cv2.imread(IMG_ABS))
    # the truncation check runs on the deferred path too
    cut = tmp_path / 'cut.jpg'
    cut.write_bytes(_bundled_bytes()[:-2])
    with pytest.raises(DataError, match=r'^image file .*cut\.jpg is truncated or corrupt '):
        LoadImage(reduced_decode=True)(dict(img_path=str(cut)))
    with pytest.raises(FileNotFoundError, match=r'nope\.jpg'):
        LoadImage(reduced_decode=True)(dict(img_path=str(tmp_path / 'nope.jpg')))



def test_deferred_decode_failures_name_the_file(monkeypatch):
    import hrnet_train.datasets.transforms.loading as loading
    img = LoadImage(reduced_decode=True)(dict(img_path=IMG_ABS))['img']
    monkeypatch.setattr(loading.cv2, 'imdecode', lambda data, flag: None)
    with pytest.raises(DataError, match=r'^could not decode image file .*000000000785\.jpg'):
        img.decode(2)
    monkeypatch.setattr(loading.cv2, 'imdecode', lambda data, flag: np.zeros((10, 20, 3)))
    with pytest.raises(DataError, match=r'^image file .*000000000785\.jpg decoded at 1/2 to '
                                        r'20x10, its header gives 640x425 \(expected 320x213\)$'):
        img.decode(2)
    with pytest.raises(ValueError, match='reduction must be one of 1, 2, 4, 8, got 3'):
        img.decode(3)


def test_reduced_decode_decodes_other_files_at_load(tmp_path):
    png = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / 'a.png'), png)
    out = LoadImage(reduced_decode=True)(dict(img_path=str(tmp_path / 'a.png')))
    np.testing.assert_array_equal(out['img'], png[..., ::-1])
    assert out['img_shape'] == (40, 30)
    rotated = tmp_path / 'rotated.jpg'
    rotated.write_bytes(_with_exif_orientation(_bundled_bytes(), 6))
    out = LoadImage(reduced_decode=True)(dict(img_path=str(rotated)))
    assert isinstance(out['img'], np.ndarray) and out['img_shape'] == (640, 425)
    np.testing.assert_array_equal(out['img'], read_image(str(rotated)))


def test_deferred_image_refuses_pixel_access_with_one_line():
    import copy
    import pickle

    from hrnet_train.datasets.transforms import PackPoseInputs, Resize
    img = LoadImage(reduced_decode=True)(dict(img_path=IMG_ABS))['img']
    msg = r'image .*000000000785\.jpg is not decoded .*use LoadImage\(\) in this pipeline$'
    with pytest.raises(TypeError, match=msg):
        np.asarray(img)
    with pytest.raises(TypeError, match=msg):
        img[0]
    with pytest.raises(AttributeError, match=msg):
        img.shape
    with pytest.raises(AttributeError, match=msg):  # a transform that needs pixels
        PackPoseInputs()(dict(img=img))
    with pytest.raises(AttributeError, match=msg):
        Resize(scale=(100, 50))(dict(img=img, img_shape=(425, 640)))
    # copy and pickle work (the DataLoader and mmengine may copy results)
    for clone in (copy.deepcopy(img), pickle.loads(pickle.dumps(img))):
        assert (clone.height, clone.width, clone.flipped) == (425, 640, False)
        np.testing.assert_array_equal(clone.data, img.data)


def test_reduced_decode_arguments():
    with pytest.raises(ValueError, match='reduced_decode must be True or False'):
        LoadImage(reduced_decode='yes')
    with pytest.raises(ValueError, match='reduced_decode_margin must be > 0'):
        LoadImage(reduced_decode=True, reduced_decode_margin=0)
    assert 'reduced_decode=True' in repr(LoadImage(reduced_decode=True))


# ------------------------------------------------------------------------------------------------
# cache_last: the last image's decode re-used
# ------------------------------------------------------------------------------------------------
def _count_imdecode(monkeypatch) -> list:
    import hrnet_train.datasets.transforms.loading as loading
    calls = []
    real_imdecode = cv2.imdecode

    def counting(data, flag):
        calls.append(flag)
        return real_imdecode(data, flag)

    monkeypatch.setattr(loading.cv2, 'imdecode', counting)
    return calls


def test_cache_last_decodes_a_repeated_image_once_and_hands_out_copies(monkeypatch):
    other = _bundled('000000040083.jpg')
    expected, expected_other = read_image(IMG_ABS), read_image(other)
    calls = _count_imdecode(monkeypatch)
    load = LoadImage(cache_last=True)
    first = load(dict(img_path=IMG_ABS))['img']
    first[:] = 0  # a transform writing into its image must not reach the next sample
    second = load(dict(img_path=IMG_ABS))['img']
    assert len(calls) == 1
    np.testing.assert_array_equal(second, expected)
    assert second.flags.writeable and not np.shares_memory(first, second)
    np.testing.assert_array_equal(load(dict(img_path=other))['img'], expected_other)
    load(dict(img_path=IMG_ABS))  # only the last image is kept
    assert len(calls) == 3
    assert 'cache_last=True' in repr(load)
    # off by default: every request decodes
    plain = LoadImage()
    plain(dict(img_path=IMG_ABS)), plain(dict(img_path=IMG_ABS))
    assert len(calls) == 5


def test_cache_last_sees_a_rewritten_file(tmp_path):
    import os
    path = tmp_path / 'a.png'
    a = np.full((8, 6, 3), 10, np.uint8)
    cv2.imwrite(str(path), a)
    load = LoadImage(cache_last=True, to_rgb=False)
    np.testing.assert_array_equal(load(dict(img_path=str(path)))['img'], a)
    cv2.imwrite(str(path), a + 5)  # same size in bytes, maybe the same mtime tick
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    np.testing.assert_array_equal(load(dict(img_path=str(path)))['img'], a + 5)
    os.remove(path)
    with pytest.raises(FileNotFoundError, match=r'image file not found: .*a\.png'):
        load(dict(img_path=str(path)))


def test_cache_last_with_reduced_decode_caches_each_reduction(monkeypatch):
    expected_half = LoadImage(reduced_decode=True)(dict(img_path=IMG_ABS))['img'].decode(2)
    expected = read_image(IMG_ABS)
    calls = _count_imdecode(monkeypatch)
    load = LoadImage(cache_last=True, reduced_decode=True)
    a = load(dict(img_path=IMG_ABS))['img']
    b = load(dict(img_path=IMG_ABS))['img'].mirrored()  # RandomFlip's copy keeps the cache
    assert a.data is b.data  # the file is read and parsed once
    half = a.decode(2)
    half[:] = 0
    np.testing.assert_array_equal(b.decode(2), expected_half)
    np.testing.assert_array_equal(b.decode(1), expected)
    np.testing.assert_array_equal(a.decode(1), expected)
    assert len(calls) == 2  # 1/2 once and full once
    with pytest.raises(ValueError, match='cache_last must be True or False'):
        LoadImage(cache_last=1)


def test_cached_pixels_are_shared_read_only(monkeypatch):
    calls = _count_imdecode(monkeypatch)
    load = LoadImage(cache_last=True, reduced_decode=True)
    a = load(dict(img_path=IMG_ABS))['img']
    px = a.pixels(1)
    assert load(dict(img_path=IMG_ABS))['img'].pixels(1) is px and len(calls) == 1
    with pytest.raises(ValueError, match='read-only'):
        px[0, 0] = 0
    assert a.decode(1).flags.writeable
    # without a cache pixels() is a fresh decode
    b = LoadImage(reduced_decode=True)(dict(img_path=IMG_ABS))['img']
    assert b.pixels(2).flags.writeable and b.pixels(2) is not b.pixels(2)
