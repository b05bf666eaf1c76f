"""The printable solid: a closed, consistently wound 2-manifold with positive volume, at the asked size,
whatever the shape of the depth map's valid region."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from reconstruction_scenes import camera, hemisphere

from facedepth.reconstruction.export import save_solid
from facedepth.reconstruction.settings import SolidSettings
from facedepth.reconstruction.solid import manifold_cells, relief_solid


def assert_printable(solid: trimesh.Trimesh) -> None:
    assert solid.is_watertight and solid.is_winding_consistent and solid.volume > 0
    edges = np.sort(solid.edges, axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).all()  # every edge in exactly two triangles


@pytest.fixture(scope="module")
def sphere():
    cam = camera(width=120, height=100, focal=200.0)
    depth, _ = hemisphere(cam)
    return depth, cam


def test_hemisphere_relief_is_a_closed_solid_of_the_asked_size(sphere):
    depth, cam = sphere
    solid = relief_solid(depth, cam, SolidSettings(width_mm=60.0, base_mm=4.0))
    assert_printable(solid)
    lo, hi = solid.bounds
    assert hi[0] - lo[0] == pytest.approx(60.0)
    assert lo[2] == 0.0
    # the dome's depth range, scaled as its width was (60 mm over its extent at the median depth)
    valid = np.isfinite(depth)
    columns = np.nonzero(valid.any(axis=0))[0]
    extent_mm = (columns.max() - columns.min()) * float(np.median(depth[valid])) / cam.fx
    expected = float(depth[valid].max() - depth[valid].min()) * 60.0 / extent_mm
    assert hi[2] - 4.0 == pytest.approx(expected, rel=0.05)
    on_back = np.all(solid.vertices[solid.faces][:, :, 2] == 0.0, axis=1)
    assert on_back.any() and (solid.face_normals[on_back, 2] < -0.99).all()
    assert solid.euler_number == 2  # one piece, no handles: a deformed ball


def test_width_and_base_follow_the_settings(sphere):
    depth, cam = sphere
    small = relief_solid(depth, cam, SolidSettings(width_mm=40.0, base_mm=2.0))
    large = relief_solid(depth, cam, SolidSettings(width_mm=80.0, base_mm=2.0))
    assert small.extents[0] == pytest.approx(40.0) and large.extents[0] == pytest.approx(80.0)
    assert (large.extents[2] - 2.0) == pytest.approx(2 * (small.extents[2] - 2.0), rel=1e-6)
    thick = relief_solid(depth, cam, SolidSettings(width_mm=40.0, base_mm=7.0))
    assert thick.extents[2] == pytest.approx(small.extents[2] + 5.0)


def test_pinches_holes_and_islands_still_close(sphere):
    _, cam = sphere
    depth = np.full((cam.height, cam.width), np.nan, dtype=np.float32)
    depth[10:50, 10:50] = 500.0
    depth[50:90, 50:90] = 480.0  # touches the first square at one corner only
    depth[25:35, 25:35] = np.nan  # a hole
    depth[70:80, 100:110] = 490.0  # a separate island
    solid = relief_solid(depth, cam)
    assert_printable(solid)
    assert len(solid.split(only_watertight=False)) == 1


@pytest.mark.parametrize("seed", range(6))
def test_random_outlines_always_close(seed):
    cam = camera(width=64, height=56, focal=120.0)
    rng = np.random.default_rng(seed)
    blobs = rng.random((cam.height // 4, cam.width // 4)) < 0.55
    mask = np.kron(blobs, np.ones((4, 4), dtype=bool))
    mask &= rng.random(mask.shape) < 0.93  # ragged edges, pinches and pin holes
    depth = np.where(mask, 450.0 + 30.0 * rng.random(mask.shape), np.nan).astype(np.float32)
    assert_printable(relief_solid(depth, cam))


def test_manifold_cells_leave_no_corner_only_contacts():
    cells = np.zeros((6, 6), dtype=bool)
    cells[1, 1] = cells[2, 2] = cells[3, 3] = True
    cells[1, 4] = cells[2, 3] = True
    kept = manifold_cells(cells)
    a, b, c, d = kept[:-1, :-1], kept[:-1, 1:], kept[1:, :-1], kept[1:, 1:]
    assert not (a & d & ~b & ~c).any() and not (b & c & ~a & ~d).any()
    assert kept.sum() >= 1 and not (kept & ~cells).any()


def test_too_little_depth_is_refused(sphere):
    _, cam = sphere
    depth = np.full((cam.height, cam.width), np.nan, dtype=np.float32)
    depth[5:9, 5:9] = 500.0
    with pytest.raises(ValueError, match="too few face points"):
        relief_solid(depth, cam)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="width"):
        SolidSettings(width_mm=1.0)
    with pytest.raises(ValueError, match="base"):
        SolidSettings(base_mm=0.0)


def test_saved_stl_reloads_watertight(tmp_path, sphere):
    depth, cam = sphere
    solid = relief_solid(depth, cam)
    loaded = trimesh.load(save_solid(solid, tmp_path / "face_solid.stl"), force="mesh")  # merges STL's corners
    assert_printable(loaded)
    assert loaded.volume == pytest.approx(solid.volume, rel=1e-4)
