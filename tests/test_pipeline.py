import os

import numpy as np
import pytest

from facedepth.app import pipeline as pipeline_module
from facedepth.app.pipeline import Pipeline, PipelineSettings, output_paths, save_outputs
from facedepth.model import files
from facedepth.model.imageio import load_photo
from facedepth.model.progress import Cancelled
from facedepth.reconstruction import export
from facedepth.reconstruction.surface import MeshSettings


@pytest.fixture(scope="module")
def pipeline(tiny_weights):
    return Pipeline(tiny_weights)


@pytest.fixture(scope="module")
def grid_result(pipeline, face_photo):
    return pipeline.run(face_photo, PipelineSettings(mesh=MeshSettings(mode="grid")))


def test_progress_stages_in_order(pipeline, face_photo):
    seen = []
    result = pipeline.run(load_photo(face_photo), PipelineSettings(mesh=MeshSettings(mode="poisson", poisson_depth=5)),
                          progress=lambda stage, fraction: seen.append((stage, fraction)))
    stages = [s for s, _ in seen]
    assert stages == ["loading", "detecting face", "estimating depth", "point cloud", "normals", "poisson surface",
                      "trimming", "wireframe", "done"]
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert {"detect", "generator", "poisson surface", "total"} <= set(result.timings)
    camera = result.camera()
    assert (camera.width, camera.height) == (512, 512) and camera.fx == result.prediction.camera[0]


def test_cancel_between_stages(pipeline, face_photo):
    stages = []

    def progress(stage, _fraction):
        stages.append(stage)

    with pytest.raises(Cancelled):
        pipeline.run(face_photo, PipelineSettings(mesh=MeshSettings(mode="grid")), progress=progress,
                     cancelled=lambda: "estimating depth" in stages)
    assert stages[-1] == "estimating depth"


def test_depth_only(pipeline, face_photo, tmp_path):
    result = pipeline.run(face_photo, PipelineSettings(mesh=None))
    assert result.reconstruction is None
    written = save_outputs(result, tmp_path, "f", ["ply", "glb"], ["npy"], overwrite=False)
    assert written == [tmp_path / "f_depth.npy"] and {p.name for p in tmp_path.iterdir()} == {"f_depth.npy"}


def test_existing_target_stops_everything(grid_result, tmp_path):
    (tmp_path / "f_wireframe.ply").write_text("old")
    with pytest.raises(export.OutputExistsError, match="f_wireframe.ply.*--overwrite"):
        save_outputs(grid_result, tmp_path, "f", ["ply", "stl"], ["png16", "color"], overwrite=False)
    assert {p.name for p in tmp_path.iterdir()} == {"f_wireframe.ply"}


def test_failed_overwrite_keeps_the_old_set_untouched(grid_result, tmp_path, monkeypatch):
    """Issue 14.4: a write failing part-way through --overwrite used to leave the new files written so far in
    place of the old ones (a mixed set); now nothing is renamed until every file of the set is written."""
    (tmp_path / "f.ply").write_text("old")
    (tmp_path / "f_depth.npy").write_text("old too")

    def no_space(temp):
        temp.write_bytes(b"half a wire fr")
        raise OSError(28, "No space left on device", str(temp))

    def full_disk(lineset, path, overwrite=False):  # the disk fills up while the last file is written
        return files.atomic_write(path, no_space, overwrite)

    monkeypatch.setattr(pipeline_module.export, "save_wireframe", full_disk)
    with pytest.raises(OSError, match="No space") as caught:
        save_outputs(grid_result, tmp_path, "f", ["ply", "obj"], ["npy"], overwrite=True)
    assert caught.value.filename == str(tmp_path / "f_wireframe.ply")  # the target, not a temporary name
    assert {p.name for p in tmp_path.iterdir()} == {"f.ply", "f_depth.npy"}
    assert (tmp_path / "f.ply").read_text() == "old" and (tmp_path / "f_depth.npy").read_text() == "old too"


def test_failed_rename_puts_the_old_set_back(grid_result, tmp_path, monkeypatch):
    (tmp_path / "f.ply").write_text("old")
    real_replace = os.replace
    calls = []

    def failing_second_publish(src, dst):
        if not os.path.basename(dst).startswith("."):  # a rename onto a target (not into a temporary name)
            calls.append(dst)
            if len(calls) == 2:
                raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_second_publish)
    with pytest.raises(OSError, match="Input/output"):
        save_outputs(grid_result, tmp_path, "f", ["ply", "obj"], ["npy"], overwrite=True, wireframe=False)
    # the npy was placed, f.ply failed, then the old f.ply was put back
    assert calls == [tmp_path / "f_depth.npy", tmp_path / "f.ply", tmp_path / "f.ply"]
    assert {p.name for p in tmp_path.iterdir()} == {"f.ply"} and (tmp_path / "f.ply").read_text() == "old"


def test_output_names(tmp_path):
    paths = output_paths(tmp_path, "me", ["ply", "glb"], ["png16", "npy", "color"])
    assert [p.name for p in paths] == ["me_depth.png", "me_depth.npy", "me_depth_color.png", "me.ply", "me.glb",
                                       "me_wireframe.ply"]
    with pytest.raises(ValueError, match="unknown mesh format"):
        output_paths(tmp_path, "me", ["fbx"], [])


def test_array_source_is_used_as_is(pipeline, face_photo):
    rgb = load_photo(face_photo)
    result = pipeline.run(rgb, PipelineSettings(detect=False, mesh=None))
    assert result.prediction.image is rgb and result.prediction.depth_mm.shape == (512, 512)
    assert np.isfinite(result.prediction.depth_mm).any()


def test_stride_follows_face_size():
    from facedepth.app.pipeline import scaled_to_face
    from facedepth.reconstruction.settings import MeshSettings

    base = MeshSettings(stride=2)
    assert scaled_to_face(base, 200.0) is base
    assert scaled_to_face(base, 256.0).stride == 2
    assert scaled_to_face(base, 1024.0).stride == 8


def test_small_faces_are_sampled_on_the_generator_grid(pipeline, face_photo):
    from facedepth.app.pipeline import camera_of, sampling_grid

    prediction = pipeline.run(face_photo, PipelineSettings(mesh=None)).prediction
    assert prediction.box.side < 256  # the sample's face crop spans about 158 photo pixels
    depth, rgb, grid_camera, side = sampling_grid(prediction)
    assert depth.shape == (256, 256) and rgb.shape == (256, 256, 3) and side == 256
    # the same surface as the depth on the photo's grid: crop samples land where the photo depth agrees
    rows, cols = np.nonzero(np.isfinite(depth))
    points = grid_camera.backproject(cols, rows, depth[rows, cols])
    u, v = camera_of(prediction).project(points)
    photo_depth = prediction.depth_mm[np.round(v).astype(int), np.round(u).astype(int)]
    inside = np.isfinite(photo_depth)
    assert inside.mean() > 0.9
    assert np.median(np.abs(photo_depth[inside] - depth[rows, cols][inside])) < 0.5


def test_small_faces_get_the_generator_grid_s_detail(pipeline, face_photo):
    result = pipeline.run(face_photo, PipelineSettings(mesh=MeshSettings(mode="grid")))
    face_pixels = int(np.isfinite(result.prediction.depth_mm).sum())
    # stride 2 on the 256 grid, where the photo's grid at stride 2 would give face_pixels / 4 vertices
    assert len(result.reconstruction.mesh.vertices) > 0.5 * face_pixels
    texture = result.reconstruction.texture
    x0, y0, x1, y1 = texture.region
    assert texture.image.shape[:2] == (y1 - y0, x1 - x0)  # the photo's own pixels


def test_large_faces_stay_on_the_photo_grid(pipeline, face_photo):
    from PIL import Image

    from facedepth.app.pipeline import sampling_grid

    rgb = load_photo(face_photo)
    large = np.asarray(Image.fromarray(rgb).resize((1024, 1024)))
    prediction = pipeline.run(large, PipelineSettings(mesh=None)).prediction
    depth, image, _, side = sampling_grid(prediction)
    assert prediction.box.side > 256 and depth is prediction.depth_mm and image is large
    assert side == prediction.view.side


def test_fine_poisson_depths_sample_every_pixel():
    from facedepth.app.pipeline import scaled_to_face

    assert MeshSettings(mode="poisson", poisson_depth=7).grid_stride == 2
    assert MeshSettings(mode="poisson", poisson_depth=8).grid_stride == 1
    assert MeshSettings(mode="grid", poisson_depth=9).grid_stride == 2
    assert scaled_to_face(MeshSettings(mode="poisson", poisson_depth=9), 256.0).stride == 1
    assert scaled_to_face(MeshSettings(mode="poisson", poisson_depth=9), 1024.0).stride == 4


def test_texture_is_cut_from_the_upright_full_resolution_photo(pipeline, face_photo, tmp_path):
    import photo_corpus as corpus
    from PIL import Image, ImageOps

    photo = corpus.exif_rotated_jpeg(tmp_path, face_photo)
    with Image.open(photo) as stored:
        upright = np.asarray(ImageOps.exif_transpose(stored).convert("RGB"))
    result = pipeline.run(photo, PipelineSettings(mesh=MeshSettings(mode="grid")))
    texture = result.reconstruction.texture
    x0, y0, x1, y1 = texture.region
    assert result.prediction.image.shape == upright.shape
    np.testing.assert_array_equal(texture.image, upright[y0:y1, x0:x1])
