"""Teachers for real photos: the mesh-based ones keep the fit's relief scale and take the mesh's pose."""

import numpy as np
import pytest

from facedepth.model import depthcode
from facedepth.model.crop import CropBox
from facedepth.training.teachers import NoTeacherDepth, blend, map_in_crop, teacher_code

SIDE = 200
BOX = CropBox(100.0, 100.0, float(SIDE))


def _dome(tilt: float = 0.0) -> np.ndarray:
    """A face-like bowl over a 200 x 200 photo, in photo pixels; NaN off a disc."""
    y, x = np.mgrid[:SIDE, :SIDE].astype(np.float64)
    r2 = (x - 100) ** 2 + (y - 100) ** 2
    return np.where(r2 < 70**2, 0.004 * r2 + tilt * y, np.nan).astype(np.float32)


def _code(depth_map: np.ndarray) -> np.ndarray:
    crop = map_in_crop(depth_map, BOX)
    mask = np.isfinite(crop)
    return depthcode.encode(np.where(mask, crop, 0.0), mask, SIDE)  # 1 mm per photo pixel


def test_eos_is_the_fit_itself():
    code = _code(_dome())
    assert teacher_code("eos", code, SIDE, None, BOX) is code


@pytest.mark.parametrize("teacher", ["mediapipe", "fused", "posed"])
def test_a_shallow_shifted_mesh_gives_the_fits_relief(teacher):
    fit = _code(_dome())
    mesh = 0.5 * _dome() + 7.0  # the same shape, half the relief, another offset
    out = teacher_code(teacher, fit, SIDE, mesh, BOX)
    both = depthcode.face_mask(out) & depthcode.face_mask(fit)
    assert both.sum() > 0.9 * depthcode.face_mask(fit).sum()
    assert np.abs(out[both] - fit[both]).max() < 0.02


def test_the_mesh_gives_the_pose():
    fit = _code(_dome())
    tilted = _dome(tilt=0.3)
    out = teacher_code("mediapipe", fit, SIDE, tilted, BOX)
    fused = teacher_code("fused", fit, SIDE, tilted, BOX)
    expected = _code(tilted)
    mask = depthcode.face_mask(expected) & depthcode.face_mask(out)
    assert np.abs(out[mask] - expected[mask]).max() < 0.02
    # the fused target is half-way in shape but keeps the mesh's tilt: its rows' mean depth still slopes
    rows = np.nonzero(depthcode.face_mask(fused))[0]
    slope = np.polyfit(rows, fused[depthcode.face_mask(fused)], 1)[0]
    assert slope > 0.5 * np.polyfit(rows, expected[depthcode.face_mask(fused)], 1)[0]


def test_posed_keeps_the_fits_shape_in_the_meshs_pose():
    """A mesh with the fit's tilted shape plus a bump of its own (e.g. a wrong nose): ``posed`` takes the tilt and
    leaves out the bump, ``fused`` takes half of the bump."""
    y, x = np.mgrid[:SIDE, :SIDE].astype(np.float64)
    bump = 6.0 * np.exp(-((x - 100) ** 2 + (y - 120) ** 2) / (2 * 8.0**2))
    fit = _code(_dome())
    mesh = 0.5 * (_dome(tilt=0.3) + bump) + 7.0
    posed, fused = (teacher_code(t, fit, SIDE, mesh, BOX) for t in ("posed", "fused"))
    expected = _code(_dome(tilt=0.3))
    assert np.array_equal(depthcode.face_mask(posed), depthcode.face_mask(fit))
    inside = depthcode.face_mask(expected) & depthcode.face_mask(posed)
    assert np.abs(posed[inside] - expected[inside]).max() < 0.03  # the bump moves the fitted scale a little
    col, row = np.rint(BOX.to_crop_matrix(posed.shape[0]) @ (100.0, 120.0, 1.0)).astype(int)  # the bump's top
    assert abs(fused[row, col] - expected[row, col]) > 3 * abs(posed[row, col] - expected[row, col])


def test_without_a_mesh_fused_falls_back_to_the_fit_and_mediapipe_refuses():
    fit = _code(_dome())
    assert teacher_code("fused", fit, SIDE, None, BOX) is fit
    assert teacher_code("posed", fit, SIDE, None, BOX) is fit
    with pytest.raises(NoTeacherDepth):
        teacher_code("mediapipe", fit, SIDE, None, BOX)
    with pytest.raises(NoTeacherDepth, match="direction"):
        teacher_code("mediapipe", fit, SIDE, -_dome(), BOX)
    with pytest.raises(ValueError, match="unknown teacher"):
        teacher_code("nope", fit, SIDE, None, BOX)


def test_mesh_triangles_are_the_three_cycles_of_its_edges():
    from facedepth.training.mediapipe_teacher import triangles_from_edges

    # a square 0-1-2-3 with the diagonal 0-2, and a dangling edge 3-4
    edges = np.array([(0, 1), (1, 2), (2, 3), (3, 0), (0, 2), (3, 4)])
    assert triangles_from_edges(edges).tolist() == [[0, 1, 2], [0, 2, 3]]


def test_the_fused_blend_has_no_seam_where_one_teacher_stops():
    """A mesh with an eye hole over a fit 2 units deeper: the plain switch steps by 1 (half the difference)
    at every edge of the mesh; the feathered blend moves there by about the difference over its width."""
    y, x = np.mgrid[:SIDE, :SIDE].astype(np.float64)
    fit = np.where((x - 100) ** 2 + (y - 100) ** 2 < 90**2, 2.0, np.nan)
    mesh = np.where(((x - 100) ** 2 + (y - 100) ** 2 < 70**2) & ((x - 70) ** 2 + (y - 80) ** 2 > 10**2), 0.0, np.nan)
    both = np.isfinite(mesh) & np.isfinite(fit)

    def largest_step(depth: np.ndarray) -> float:
        inside = np.isfinite(depth)
        steps = [np.abs(np.diff(depth, axis=a))[np.diff(inside.astype(int), axis=a) == 0] for a in (0, 1)]
        return max(np.nanmax(s) for s in steps)

    plain, feathered = blend(mesh, fit, feather=0.0), blend(mesh, fit)
    assert largest_step(plain) == pytest.approx(1.0)
    width = 0.1 * np.sqrt(both.sum())
    assert largest_step(feathered) < 2.5 / width < 0.25
    assert np.isfinite(feathered).sum() == np.isfinite(fit).sum()  # the fit alone still fills the hole and rim
    deep = both & (70 - np.hypot(x - 100, y - 100) > width) & (np.hypot(x - 70, y - 80) - 10 > width)
    assert np.allclose(feathered[deep], 1.0)  # well inside both: their mean
    assert np.array_equal(blend(mesh, fit, average=False), np.where(np.isfinite(mesh), mesh, fit), equal_nan=True)
