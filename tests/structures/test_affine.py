"""Affine warps: the official and UDP crop warps, exact inverses, boxes under warps."""
import cv2
import numpy as np
import pytest

from hrnet_train.structures import (
    apply_affine,
    apply_affine_to_boxes,
    build_udp_warp_matrix,
    build_warp_matrix,
    fix_aspect_ratio,
    invert_affine,
)


def _official_get_affine_transform(center, scale, rot, output_size):
    """Literal copy of leoxiaobin lib/utils/transforms.py get_affine_transform (scale in 200 px)."""
    def get_dir(src_point, rot_rad):
        sn, cs = np.sin(rot_rad), np.cos(rot_rad)
        return [src_point[0] * cs - src_point[1] * sn, src_point[0] * sn + src_point[1] * cs]

    def get_3rd_point(a, b):
        direct = a - b
        return b + np.array([-direct[1], direct[0]], dtype=np.float32)

    scale_tmp = scale * 200.0
    src_w = scale_tmp[0]
    dst_w, dst_h = output_size
    rot_rad = np.pi * rot / 180
    src_dir = get_dir([0, src_w * -0.5], rot_rad)
    dst_dir = np.array([0, dst_w * -0.5], np.float32)
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0, :] = center
    src[1, :] = center + src_dir
    dst[0, :] = [dst_w * 0.5, dst_h * 0.5]
    dst[1, :] = np.array([dst_w * 0.5, dst_h * 0.5]) + dst_dir
    src[2:, :] = get_3rd_point(src[0, :], src[1, :])
    dst[2:, :] = get_3rd_point(dst[0, :], dst[1, :])
    return cv2.getAffineTransform(np.float32(src), np.float32(dst))


def _apply(mat, pts):
    return np.asarray(pts, np.float32) @ mat[:, :2].T + mat[:, 2]


@pytest.mark.parametrize('rot', [0., 30., -75.])
def test_warp_matrix_matches_official(rot):
    center, scale = np.array([300.5, 200.25]), np.array([150., 200.])
    ours = build_warp_matrix(center, scale, rot, (192, 256))
    ref = _official_get_affine_transform(center, scale / 200., rot, (192, 256))
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-4)
    inv = build_warp_matrix(center, scale, rot, (192, 256), inv=True)
    np.testing.assert_allclose(_apply(inv, _apply(ours, [[10., 20.]])), [[10., 20.]], atol=1e-3)


def test_rotation_directions():
    c, s = np.array([100., 100.]), np.array([96., 128.])
    # official: +90 deg turns the content counter-clockwise on screen: a point right of the
    # centre ends above the input centre
    np.testing.assert_allclose(_apply(build_warp_matrix(c, s, 90., (192, 256)), [[110., 100.]]),
                               [[96., 128. - 20.]], atol=1e-3)
    # UDP reference: the opposite sign (point right of the centre ends below it)
    np.testing.assert_allclose(
        _apply(build_udp_warp_matrix(c, s, 90., (192, 256)), [[110., 100.]]),
        [[95.5, 127.5 + 10. * 255 / 128]], atol=1e-3)


def test_fix_aspect_ratio():
    np.testing.assert_allclose(fix_aspect_ratio(np.array([100., 100.]), 0.75), [100., 400 / 3])
    np.testing.assert_allclose(fix_aspect_ratio(np.array([30., 100.]), 0.75), [75., 100.])


@pytest.mark.parametrize('udp', [False, True])
@pytest.mark.parametrize('rot', [0., 25., -140.])
def test_invert_affine_round_trips(udp, rot):
    rng = np.random.default_rng(0)
    center, scale = np.array([321.7, 140.2]), np.array([83.3, 111.1])
    build = build_udp_warp_matrix if udp else build_warp_matrix
    warp = build(center, scale, rot, (192, 256))
    pts = rng.uniform(0, 640, size=(50, 2))
    back = apply_affine(apply_affine(pts, warp), invert_affine(warp))
    np.testing.assert_allclose(back, pts, atol=2e-3)
    if not udp:  # the official inverse (cv2 on the swapped triangles) is the same matrix
        np.testing.assert_allclose(invert_affine(warp),
                                   build_warp_matrix(center, scale, rot, (192, 256), inv=True),
                                   rtol=1e-4, atol=1e-3)


def test_udp_inverse_by_hand():
    # UDP: the box centre goes to ((w - 1) / 2, (h - 1) / 2) and (w - 1) steps span the box width
    center, scale = np.array([100., 50.]), np.array([191., 255.])
    inv = invert_affine(build_udp_warp_matrix(center, scale, 0., (192, 256)))
    np.testing.assert_allclose(apply_affine([[95.5, 127.5], [0., 0.], [191., 255.]], inv),
                               [[100., 50.], [4.5, -77.5], [195.5, 177.5]], atol=1e-4)


def test_invert_affine_rejects_singular():
    with pytest.raises(ValueError, match='singular'):
        invert_affine(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r'\(2, 3\)'):
        invert_affine(np.eye(3))


def test_apply_affine_to_boxes():
    scale_shift = np.array([[2., 0., 10.], [0., 0.5, -4.]], np.float32)
    np.testing.assert_allclose(apply_affine_to_boxes([[1., 2., 3., 10.]], scale_shift),
                               [[12., -3., 16., 1.]])
    # 90 degrees about the origin: (x, y) -> (-y, x); the enclosing box of the mapped corners
    rot90 = np.array([[0., -1., 0.], [1., 0., 0.]], np.float32)
    np.testing.assert_allclose(apply_affine_to_boxes([[1., 2., 3., 10.]], rot90),
                               [[-10., 1., -2., 3.]])
