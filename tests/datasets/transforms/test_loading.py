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
