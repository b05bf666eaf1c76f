"""Textured meshes: the texture is the face's region of the photo, UVs land on the pixels the vertices came
from, OBJ + MTL + PNG and GLB reload with their image, the GLB passes the Khronos validator."""

from __future__ import annotations

import gltf_validator
import numpy as np
import pytest
import trimesh
from reconstruction_scenes import camera, hemisphere

from facedepth.model import files
from facedepth.reconstruction.export import OutputExistsError, mesh_companions, save_mesh
from facedepth.reconstruction.surface import grid_mesh, reconstruct
from facedepth.reconstruction.texture import TEXTURE_MARGIN_PX, photo_texture


@pytest.fixture(scope="module")
def scene():
    """A hemisphere seen by a 96 x 80 camera, and a photo of random pixels (every pixel tells where it is)."""
    cam = camera(width=96, height=80, focal=150.0)
    depth, _ = hemisphere(cam)
    rgb = np.random.default_rng(1).integers(0, 256, (cam.height, cam.width, 3), dtype=np.uint8)
    return depth, rgb, cam


@pytest.fixture(scope="module")
def mesh(scene):
    """The unsmoothed heightfield, whose every vertex projects onto the centre of the pixel it came from."""
    return grid_mesh(*scene, smoothing=0)


def source_pixels(mesh, cam) -> tuple[np.ndarray, np.ndarray]:
    """The photo pixel (column, row) each grid-mesh vertex was back-projected from."""
    u, v = cam.project(np.asarray(mesh.vertices))
    assert np.allclose(u, np.round(u), atol=1e-6) and np.allclose(v, np.round(v), atol=1e-6)
    return np.round(u).astype(int), np.round(v).astype(int)


def texel_at(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """The texel each texture coordinate (origin bottom-left, as trimesh reads OBJ and GLB) falls in."""
    height, width = image.shape[:2]
    cols = np.clip(np.floor(uv[:, 0] * width), 0, width - 1).astype(int)
    rows = np.clip(np.floor((1.0 - uv[:, 1]) * height), 0, height - 1).astype(int)
    return image[rows, cols]


def texture_image(loaded: trimesh.Trimesh) -> np.ndarray:
    assert loaded.visual.kind == "texture"
    material = loaded.visual.material
    image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
    assert image is not None, "the texture image did not come back"
    return np.asarray(image.convert("RGB"))


def test_texture_is_the_face_region_at_full_resolution(scene, mesh):
    depth, rgb, cam = scene
    texture = photo_texture(rgb, cam, np.asarray(mesh.vertices))
    cols, rows = source_pixels(mesh, cam)
    x0, y0, x1, y1 = texture.region
    assert (x0, y0) == (max(0, cols.min() - TEXTURE_MARGIN_PX), max(0, rows.min() - TEXTURE_MARGIN_PX))
    assert (x1, y1) == (min(cam.width, cols.max() + 1 + TEXTURE_MARGIN_PX),
                        min(cam.height, rows.max() + 1 + TEXTURE_MARGIN_PX))
    np.testing.assert_array_equal(texture.image, rgb[y0:y1, x0:x1])


def test_large_regions_are_shrunk_to_the_longest_side_never_enlarged(scene, mesh):
    _, rgb, cam = scene
    small = photo_texture(rgb, cam, np.asarray(mesh.vertices), max_side=30)
    width, height = small.region[2] - small.region[0], small.region[3] - small.region[1]
    assert max(small.image.shape[:2]) == 30
    assert small.image.shape[1] / small.image.shape[0] == pytest.approx(width / height, rel=0.05)
    assert photo_texture(rgb, cam, np.asarray(mesh.vertices), max_side=4096).image.shape[:2] == (height, width)


@pytest.mark.parametrize("fmt", ["obj", "glb"])
def test_uvs_land_on_the_photo_pixels_the_vertices_came_from(tmp_path, scene, mesh, fmt):
    _, rgb, cam = scene
    texture = photo_texture(rgb, cam, np.asarray(mesh.vertices))
    loaded = trimesh.load(save_mesh(mesh, tmp_path / f"face.{fmt}", texture=texture), force="mesh", process=False)
    assert len(loaded.vertices) == len(mesh.vertices)  # one UV per vertex, in the mesh's vertex order
    cols, rows = source_pixels(mesh, cam)
    np.testing.assert_array_equal(texel_at(texture_image(loaded), loaded.visual.uv), rgb[rows, cols])


def test_uvs_follow_a_shrunk_texture(tmp_path, scene, mesh):
    _, _, cam = scene
    v, u = np.mgrid[0:cam.height, 0:cam.width]
    gradient = np.stack([u * 2, v * 3, np.full_like(u, 90)], axis=2).astype(np.uint8)
    texture = photo_texture(gradient, cam, np.asarray(mesh.vertices), max_side=24)
    loaded = trimesh.load(save_mesh(mesh, tmp_path / "face.glb", texture=texture), force="mesh", process=False)
    cols, rows = source_pixels(mesh, cam)
    scale = (texture.region[2] - texture.region[0]) / texture.image.shape[1]  # photo pixels per texel
    found = texel_at(texture_image(loaded), loaded.visual.uv).astype(float)
    # a texel averages about scale x scale photo pixels; its centre is at most half a texel from the vertex
    assert np.abs(found[:, 0] - 2 * cols).max() <= 2 * scale + 2
    assert np.abs(found[:, 1] - 3 * rows).max() <= 3 * scale + 3


def test_obj_comes_with_its_material_and_texture(tmp_path, scene, mesh):
    _, rgb, cam = scene
    path = save_mesh(mesh, tmp_path / "face.obj", texture=photo_texture(rgb, cam, np.asarray(mesh.vertices)))
    material, image = mesh_companions(path)
    assert (material.name, image.name) == ("face.mtl", "face_texture.png")
    assert {p.name for p in tmp_path.iterdir()} == {"face.obj", "face.mtl", "face_texture.png"}
    assert "mtllib face.mtl" in path.read_text() and "map_Kd face_texture.png" in material.read_text()


def test_ply_keeps_vertex_colours_and_stl_has_none(tmp_path, scene, mesh):
    _, rgb, cam = scene
    texture = photo_texture(rgb, cam, np.asarray(mesh.vertices))
    ply = trimesh.load(save_mesh(mesh, tmp_path / "face.ply", texture=texture), force="mesh", process=False)
    assert ply.visual.kind == "vertex"
    stl = trimesh.load(save_mesh(mesh, tmp_path / "face.stl", texture=texture), force="mesh", process=False)
    assert len(stl.faces) == len(mesh.triangles)
    assert {p.name for p in tmp_path.iterdir()} == {"face.ply", "face.stl"}


def test_glb_passes_the_khronos_validator(tmp_path, scene, mesh):
    _, rgb, cam = scene
    path = save_mesh(mesh, tmp_path / "face.glb", texture=photo_texture(rgb, cam, np.asarray(mesh.vertices)))
    issues = gltf_validator.validate(path)
    assert issues["numErrors"] == 0 and issues["numWarnings"] == 0, gltf_validator.errors(issues)


def test_a_failing_texture_write_leaves_no_obj_files(tmp_path, scene, mesh, monkeypatch):
    _, rgb, cam = scene
    texture = photo_texture(rgb, cam, np.asarray(mesh.vertices))
    real = files.atomic_write

    def fail_on_obj(path, writer, overwrite=False):
        if path.suffix == ".obj":
            raise OSError(28, "No space left on device")
        return real(path, writer, overwrite)

    monkeypatch.setattr(files, "atomic_write", fail_on_obj)
    with pytest.raises(OSError, match="No space"):
        save_mesh(mesh, tmp_path / "face.obj", texture=texture)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_companion_stops_the_obj(tmp_path, scene, mesh):
    _, rgb, cam = scene
    (tmp_path / "face_texture.png").write_bytes(b"old")
    with pytest.raises(OutputExistsError, match="face_texture.png"):
        save_mesh(mesh, tmp_path / "face.obj", texture=photo_texture(rgb, cam, np.asarray(mesh.vertices)))
    assert {p.name for p in tmp_path.iterdir()} == {"face_texture.png"}


def test_reconstruction_textures_from_the_photo_it_is_given(scene):
    depth, rgb, cam = scene
    # the depth on a half-resolution grid, the photo at full resolution
    half = cam.resampled(np.array([[0.5, 0.0, -0.25], [0.0, 0.5, -0.25]]), cam.width // 2, cam.height // 2)
    recon = reconstruct(depth[::2, ::2], rgb[::2, ::2], half, photo=(rgb, cam))
    assert recon.texture.camera is cam and recon.texture.image.shape[0] > depth.shape[0] // 2
    u, v = cam.project(np.asarray(recon.mesh.vertices))
    expected = rgb[np.clip(np.round(v).astype(int), 0, cam.height - 1), np.clip(np.round(u).astype(int), 0,
                                                                                cam.width - 1)]
    np.testing.assert_array_equal(np.round(np.asarray(recon.mesh.vertex_colors) * 255).astype(np.uint8), expected)


def test_resampled_camera_sees_the_same_rays():
    cam = camera(width=96, height=80, focal=150.0)
    matrix = np.array([[2.5, 0.0, -30.0], [0.0, 2.5, -12.0]])
    fine = cam.resampled(matrix, 256, 256)
    points = cam.backproject(np.array([10.0, 50.0]), np.array([20.0, 70.0]), np.array([400.0, 600.0]))
    u, v = fine.project(points)
    np.testing.assert_allclose(u, 2.5 * np.array([10.0, 50.0]) - 30.0)
    np.testing.assert_allclose(v, 2.5 * np.array([20.0, 70.0]) - 12.0)
    with pytest.raises(ValueError, match="scale and a shift"):
        cam.resampled(np.array([[1.0, 0.2, 0.0], [0.0, 1.0, 0.0]]), 10, 10)
