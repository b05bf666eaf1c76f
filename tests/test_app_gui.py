"""The FaceDepth window, driven headless (Xvfb): open, process, view, save, settings, errors, keys.

Run on their own (TensorFlow must not be in this process): ``pytest -m gui tests/test_app_gui.py``.
The generator is the random tiny one of the ``tiny_weights`` fixture, so depths are noise but every
stage runs for real.
"""

from __future__ import annotations

import configparser
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import open3d as o3d
import photo_corpus as corpus
import pytest
import trimesh
from gui_harness import Harness, launch, shut_down
from PIL import Image

pytestmark = pytest.mark.gui
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def gui(tiny_weights, tmp_path_factory):
    harness, server = launch(tiny_weights, tmp_path_factory.mktemp("gui_home"))
    yield harness
    shut_down(harness, server)


@pytest.fixture
def ui(gui: Harness, tiny_weights):
    """The window with no dialog open and nothing running, before and after each test."""
    gui.close_dialogs()
    gui.wait_idle()
    yield gui
    gui.close_dialogs()
    gui.wait_idle()
    gui.app.reset_settings()
    gui.frames(2)


@pytest.fixture
def processed(ui: Harness, face_photo):
    """The sample face processed with the default settings."""
    ui.process(face_photo)
    assert ui.app.result is not None, ui.root.status_text
    return ui


def window_center(widget) -> tuple[float, float]:
    return widget.to_window(*widget.center)


def test_window_basics(ui: Harness):
    from kivy.config import Config
    from kivy.core.window import Window

    assert Window.title == "FaceDepth"
    assert ui.app.icon.endswith("facedepth.png") and Path(ui.app.icon).is_file()
    assert Window.minimum_width > 0 and Window.minimum_height > 0
    assert Config.get("kivy", "exit_on_escape") == "0"
    from kivy.graphics.opengl import GL_SAMPLE_BUFFERS, glGetIntegerv

    assert glGetIntegerv(GL_SAMPLE_BUFFERS)[0] == 0  # single-sampled: nothing drawn in the window needs more


def test_sample_is_processed_into_photo_depth_and_mesh(processed: Harness):
    app, root = processed.app, processed.root
    result = app.result
    assert root.photo_texture is not None and root.depth_texture is not None and root.legend_texture is not None
    assert root.near_text.startswith("near ") and root.near_text.endswith(" mm")
    assert root.far_text.startswith("far ") and root.far_text.endswith(" mm")
    assert result.face_found  # the sample is a real face photo
    assert processed.view.has_scene
    assert processed.view.triangle_count == result.triangles > 0
    assert f"{result.triangles:,} triangles" in root.status_text
    # The 3D view draws something other than its background.
    pixels = processed.view.render_pixels()
    background = np.round(np.array(processed.view.background[:3]) * 255)
    assert (np.abs(pixels.astype(int) - background).sum(axis=2) > 30).mean() > 0.05
    # The process never loaded TensorFlow (it crashes next to Kivy's OpenGL).
    assert "tensorflow" not in sys.modules
    assert "keras" not in sys.modules


def test_drag_rotates_wheel_zooms_right_drag_pans_double_click_resets(processed: Harness):
    from facedepth.app.viewer import HOME_PITCH, HOME_YAW

    view = processed.view
    x, y = window_center(view)
    before = view.view_matrix.copy()
    home = (view.yaw, view.pitch)
    assert home == (HOME_YAW, HOME_PITCH)
    processed.drag((x, y), (x + 120, y + 40))
    assert view.yaw != HOME_YAW and view.pitch != HOME_PITCH
    assert not np.allclose(view.view_matrix, before)

    zoom = view.zoom
    processed.click((x, y), button="scrolldown")
    assert view.zoom > zoom
    processed.click((x, y), button="scrollup")
    processed.click((x, y), button="scrollup")
    assert view.zoom < zoom

    processed.drag((x, y), (x + 60, y - 30), button="right")
    assert view.pan[0] > 0 and view.pan[1] < 0

    processed.click((x, y), double=True)
    assert (view.yaw, view.pitch, view.zoom, list(view.pan)) == (HOME_YAW, HOME_PITCH, 1, [0, 0])
    np.testing.assert_allclose(view.view_matrix, before)


def test_render_modes_show_mesh_wireframe_and_points(processed: Harness):
    view, root = processed.view, processed.root
    result = processed.app.result
    shots = {}
    for mode in ("shaded", "colour", "wireframe", "points"):
        button = root.ids[f"render_{mode}"]
        button.dispatch("on_release")
        processed.frames(2)
        assert view.render_mode == mode and button.state == "down"
        elements = view.drawn_count()
        expected = {"shaded": result.triangles, "colour": result.triangles, "wireframe": result.lines,
                    "points": result.points}[mode]
        assert elements == expected
        shots[mode] = view.render_pixels()
    assert not np.array_equal(shots["shaded"], shots["colour"])
    assert not np.array_equal(shots["colour"], shots["wireframe"])
    root.ids.render_colour.dispatch("on_release")


def test_colour_mode_shows_the_photo_texture(processed: Harness):
    from dataclasses import replace

    view, result = processed.view, processed.app.result
    assert result.scene.texture is not None and result.scene.texture.shape[2] == 3
    view.render_mode = "colour"
    background = np.round(np.array(view.background[:3]) * 255)

    def drawn_colours(scene) -> np.ndarray:
        view.set_scene(scene)
        processed.frames(2)
        pixels = view.render_pixels().astype(int)
        return pixels[np.abs(pixels - background).sum(axis=2) > 30]

    green = np.zeros_like(result.scene.texture)
    green[..., 1] = 255
    try:
        textured = drawn_colours(replace(result.scene, texture=green))
        assert len(textured) > 1000
        assert np.mean(textured[:, 1] > 3 * np.maximum(textured[:, 0], textured[:, 2]) + 10) > 0.95
        plain = drawn_colours(replace(result.scene, texture=None))  # vertex colours: the photo's skin
        assert np.mean(plain[:, 1] > 3 * np.maximum(plain[:, 0], plain[:, 2]) + 10) < 0.05
    finally:
        view.set_scene(result.scene)


def window_shot(tmp_path) -> np.ndarray:
    """What the window shows now, (H, W, 3) top row first, as the screenshot option saves it."""
    from facedepth.app.gui import save_window_png

    return np.asarray(Image.open(save_window_png(tmp_path / "window.png"))).astype(int)


def view_region(view, shot: np.ndarray) -> tuple[slice, slice]:
    """The rows and columns of ``shot`` that the 3D view's live copy covers (whole pixels, as drawn)."""
    x, y = (round(v) for v in view.to_window(view.x, view.y))
    width, height = (int(v) for v in view.fbo.size)
    return slice(shot.shape[0] - y - height, shot.shape[0] - y), slice(x, x + width)


def test_turning_the_view_redraws_only_the_view(processed: Harness, tmp_path):
    """Issue 16.6: while the view turns, the panels come from the cached backdrop (not redrawn); the window
    shows exactly the view's own rendering in its place and the unchanged panels around it; a change to a
    panel (the status line) redraws the backdrop."""
    view, root = processed.view, processed.root
    processed.frames(3)
    before = window_shot(tmp_path)
    renders = root.backdrop_renders
    for _ in range(3):
        view.yaw += 25
        processed.frames(2)
    assert root.backdrop_renders == renders
    after = window_shot(tmp_path)
    rows, cols = view_region(view, after)
    outside = np.ones(after.shape[:2], bool)
    outside[rows, cols] = False
    assert np.array_equal(after[outside], before[outside])
    assert not np.array_equal(after[rows, cols], before[rows, cols])
    np.testing.assert_array_equal(after[rows, cols], view.render_pixels())

    status = root.ids.status_label
    root.status_text = "a changed status line"
    processed.frames(2)
    assert root.backdrop_renders > renders
    changed = window_shot(tmp_path)
    sx, sy = (round(v) for v in status.to_window(status.x, status.y))
    line = slice(changed.shape[0] - sy - round(status.height), changed.shape[0] - sy)
    assert not np.array_equal(changed[line], after[line])
    view.reset_view()


def test_the_live_view_hides_without_a_scene_or_when_its_panel_is_hidden(processed: Harness, tmp_path):
    view = processed.view
    scene = view.scene
    background = np.round(np.array(view.background[:3]) * 255)
    shown = window_shot(tmp_path)
    rows, cols = view_region(view, shown)
    assert (np.abs(shown[rows, cols] - background).sum(axis=2) > 30).mean() > 0.05  # the mesh
    try:
        view.set_scene(None)
        processed.frames(2)
        empty = window_shot(tmp_path)[rows, cols]
        assert (np.abs(empty - background).sum(axis=2) > 30).mean() < 0.001  # the backdrop's background
        view.set_scene(scene)
        processed.frames(2)
        np.testing.assert_array_equal(window_shot(tmp_path)[rows, cols], shown[rows, cols])
        view.parent.opacity = 0  # the view and its background in the backdrop both hidden: the panel shows
        processed.frames(2)
        hidden = window_shot(tmp_path)[rows, cols]
        assert len(np.unique(hidden.reshape(-1, 3), axis=0)) == 1 and not np.array_equal(hidden[0, 0], background)
    finally:
        view.parent.opacity = 1
        view.set_scene(scene)
        processed.frames(2)
    np.testing.assert_array_equal(window_shot(tmp_path)[rows, cols], shown[rows, cols])


def test_every_face_is_boxed_and_a_click_chooses_which_one_is_shown_and_saved(ui: Harness, tmp_path, face_photo):
    import photo_corpus as corpus

    from facedepth.app.gui_faces import shown_rect

    app, root = ui.app, ui.root
    photo = corpus.two_faces_side_by_side(tmp_path, face_photo)
    ui.process(photo)
    assert root.face_count == 2 and len(app.processing.face_boxes) == 2
    assert app.result.face_index == 1 and app.result.face_count == 2  # the largest, on the right, first
    assert "face 2 of 2" in root.status_text
    assert root.ids.all_faces_button.opacity == 1
    largest_scene = app.result.scene

    # a click inside the left box (on the picture, in window coordinates) processes the left face
    image = root.ids.photo_image
    left, top, right, bottom = app.processing.face_boxes[0]
    x, y, width, height = shown_rect(tuple(image.pos), tuple(image.size), tuple(image.texture.size))
    target = (x + (left + right) / 2 / app.processing.photo_size[0] * width,
              y + (1 - (top + bottom) / 2 / app.processing.photo_size[1]) * height)
    ui.click(target)
    ui.wait_idle()
    assert app.result.face_index == 0 and "face 1 of 2" in root.status_text
    assert ui.view.scene is app.result.scene and ui.view.scene is not largest_scene
    dialog = app.show_save_dialog()
    assert dialog.stem == "pair_face1"
    dialog.dismiss()

    # the face done before comes back at once, without processing
    app.choose_face(1)
    assert not app.worker.busy and app.result.face_index == 1 and ui.view.scene is largest_scene

    app.choose_face("all")
    ui.wait_idle()
    assert set(app.processing.face_views) == {0, 1} and root.all_faces
    (tmp_path / "out").mkdir()
    app.save(tmp_path / "out", app.processing.save_stem(), ["glb"], ["npy"], False, False)
    ui.pump(lambda: root.status_text.startswith("Saved"), 120, "saving")
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"pair_face1.glb", "pair_face1_depth.npy",
                                                              "pair_face2.glb", "pair_face2_depth.npy"}
    left_depth, right_depth = (np.isfinite(np.load(tmp_path / "out" / f"pair_face{n}_depth.npy")) for n in (1, 2))
    assert np.nonzero(left_depth.any(axis=0))[0].max() < 256 <= np.nonzero(right_depth.any(axis=0))[0].min()


def test_save_every_format_reload_and_confirm_before_replacing(processed: Harness, tmp_path):
    app = processed.app
    result = app.result
    app.save(tmp_path, "face", ["ply", "obj", "stl", "glb", "stl-solid"], ["png16", "color", "npy"], True, True)
    processed.pump(lambda: app.root.status_text.startswith("Saved"), 120, "saving")
    assert app.root.status_text == f"Saved 12 files to {tmp_path}"  # the OBJ with its material and texture
    solid = trimesh.load(tmp_path / "face_solid.stl", force="mesh")
    assert solid.is_watertight and solid.is_winding_consistent and solid.volume > 0
    for fmt in ("obj", "glb"):
        assert trimesh.load(tmp_path / f"face.{fmt}", force="mesh", process=False).visual.kind == "texture"

    triangles = processed.view.triangle_count  # what the 3D view draws is the mesh that was saved
    for fmt in ("ply", "obj", "glb"):
        mesh = trimesh.load(tmp_path / f"face.{fmt}", force="mesh", process=False)
        assert len(mesh.faces) == triangles, fmt
        assert len(mesh.vertices) == result.vertices, fmt
    assert len(trimesh.load(tmp_path / "face.stl", force="mesh").faces) == triangles
    lines = o3d.io.read_line_set(str(tmp_path / "face_wireframe.ply"))
    assert len(lines.lines) == result.lines

    png16 = cv2.imread(str(tmp_path / "face_depth.png"), cv2.IMREAD_UNCHANGED)
    assert png16.dtype == np.uint16 and png16.shape == result.depth_mm.shape
    valid = np.isfinite(result.depth_mm)
    np.testing.assert_allclose(png16[valid] / 10.0, result.depth_mm[valid], atol=0.06)
    depth = np.load(tmp_path / "face_depth.npy")
    np.testing.assert_array_equal(np.isnan(depth), ~valid)
    color = np.asarray(Image.open(tmp_path / "face_depth_color.png"))
    assert color.shape == (*result.depth_mm.shape, 3)
    view_png = np.asarray(Image.open(tmp_path / "face_view.png"))
    assert view_png.shape == (int(processed.view.height), int(processed.view.width), 3)
    assert view_png.std() > 5  # the mesh, not a blank frame
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left

    # Saving again asks first; Cancel leaves the files alone, Replace rewrites them.
    stamp = (tmp_path / "face.ply").stat().st_mtime_ns
    os.utime(tmp_path / "face.ply", ns=(stamp - 10**9, stamp - 10**9))
    app.save(tmp_path, "face", ["ply"], [], False, False)
    dialog = processed.wait_dialog()
    assert dialog.title == "Replace existing files?" and "face.ply" in dialog.message
    dialog.press("Cancel")
    processed.frames(3)
    assert (tmp_path / "face.ply").stat().st_mtime_ns == stamp - 10**9
    app.save(tmp_path, "face", ["ply"], [], False, False)
    processed.wait_dialog().press("Replace")
    processed.pump(lambda: (tmp_path / "face.ply").stat().st_mtime_ns != stamp - 10**9, 60, "the replaced file")
    processed.pump(lambda: app.root.status_text.startswith("Saved 1 file"), 60, "saving")


def test_save_dialog_from_ctrl_s(processed: Harness, tmp_path):
    from facedepth.app.dialogs import SaveDialog

    processed.key(115, "s", ["ctrl"])
    dialog = processed.wait_dialog(SaveDialog)
    dialog.folder = str(tmp_path)
    dialog.ids.stem_input.text = "portrait"
    dialog.ids.folder_chooser.path = str(tmp_path)
    processed.frames(2)
    dialog.ids.save_button.dispatch("on_release")
    processed.pump(lambda: processed.root.status_text.startswith("Saved"), 120, "saving")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["portrait.glb", "portrait.ply", "portrait_depth.png", "portrait_depth_color.png",
                     "portrait_view.png", "portrait_wireframe.ply"]


def test_unwritable_or_missing_folder_is_a_dialog(processed: Harness, tmp_path):
    app = processed.app
    a_file = tmp_path / "not_a_folder"
    a_file.write_text("x")
    app.save(a_file, "face", ["ply"], [], False, False)
    dialog = processed.wait_dialog()
    assert dialog.title == "Cannot save" and "is not a folder" in dialog.message
    dialog.press("OK")

    app.save(tmp_path / "missing", "face", ["ply"], [], False, False)
    dialog = processed.wait_dialog()
    assert dialog.title == "Cannot save" and "does not exist" in dialog.message
    dialog.press("OK")

    if os.geteuid() != 0:  # permission bits do not stop root
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        app.save(locked, "face", ["ply"], [], False, False)
        dialog = processed.wait_dialog()
        assert dialog.title == "Cannot save" and "Cannot write to the folder" in dialog.message
        dialog.press("OK")

    # A write that fails half-way (the target is a folder) -> "Could not save", nothing left behind.
    (tmp_path / "face.ply").mkdir()
    app.save(tmp_path, "face", ["ply"], ["npy"], False, False)
    processed.wait_dialog().press("Replace")
    dialog = processed.wait_dialog()
    assert dialog.title == "Could not save" and "face.ply" in dialog.message
    assert not (tmp_path / "face_depth.npy").exists()


def test_not_an_image_and_truncated_file_are_dialogs(ui: Harness, tmp_path, face_photo):
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a photo\n")
    ui.process(text)
    dialog = ui.wait_dialog()
    assert dialog.title == "Cannot open this file"
    assert dialog.message.startswith("notes.jpg: not an image file")
    dialog.press("OK")

    data = face_photo.read_bytes()
    truncated = tmp_path / "half.jpg"
    truncated.write_bytes(data[: len(data) // 3])
    ui.process(truncated)
    dialog = ui.wait_dialog()
    assert dialog.title == "Cannot open this file" and "truncated" in dialog.message
    assert ui.app.result is None and not ui.view.has_scene


def test_no_face_offers_the_whole_image(ui: Harness, no_face_photo):
    ui.process(no_face_photo)
    dialog = ui.wait_dialog()
    assert dialog.title == "No face found"
    assert "No face was found in gradient.png" in dialog.message
    assert dialog.button_labels == ["Use the whole image", "Cancel"]
    dialog.press("Use the whole image")
    ui.wait_idle()
    assert ui.app.result is not None and not ui.app.result.face_found
    assert ui.view.triangle_count == ui.app.result.triangles > 0
    assert "whole image" in ui.root.status_text


def test_missing_weights_is_a_dialog_at_start_and_when_processing(ui: Harness, tmp_path, face_photo, tiny_weights):
    from facedepth.app.worker import ProcessingWorker

    app = ui.app
    working = app.worker
    app.worker = ProcessingWorker(tmp_path / "missing" / "generator.tflite")
    try:
        app.preload()  # what the app does on start
        dialog = ui.wait_dialog()
        assert dialog.title == "Depth model unavailable"
        assert "weights file not found" in dialog.message and "FACEDEPTH_WEIGHTS" in dialog.message
        dialog.press("OK")
        ui.process(face_photo)
        dialog = ui.wait_dialog()
        assert dialog.title == "Depth model unavailable"
    finally:
        app.worker.shutdown()
        app.worker = working


def test_engine_crash_is_a_dialog_and_the_next_photo_works(ui: Harness, face_photo):
    ui.app.open_photo(face_photo)
    ui.pump(lambda: ui.app.worker.engine_pid is not None and ui.root.photo_texture is not None, 60, "the photo")
    os.kill(ui.app.worker.engine_pid, signal.SIGKILL)
    dialog = ui.wait_dialog()
    assert dialog.title == "Processing stopped" and "stopped unexpectedly" in dialog.message
    dialog.press("OK")
    ui.wait_idle()
    ui.process(face_photo)  # a fresh engine is started
    assert ui.app.result is not None and ui.view.has_scene


def test_escape_cancels_processing_and_never_quits(ui: Harness, face_photo):
    from kivy.core.window import Window

    ui.app.open_photo(face_photo)
    assert ui.app.busy and ui.root.ids.cancel_button.disabled is False
    ui.key(27)
    ui.wait_idle()
    assert ui.root.status_text == "Cancelled"
    assert ui.app.result is None
    ui.key(27)  # nothing running: Esc does nothing, the window stays
    assert ui.app.root_window is Window and ui.loop.status == "started"

    ui.app.show_message("Title", "Body")
    ui.frames(3)
    Window.dispatch("on_keyboard", 27, 0, "", [])  # Esc closes the dialog
    ui.pump(lambda: ui.app.dialog is None, 10, "the dialog to close")
    assert ui.loop.status == "started"


def test_ctrl_o_chooser_shows_only_images_and_opens_one(ui: Harness, tmp_path, face_photo):
    from facedepth.app.dialogs import OpenDialog

    shutil.copy(face_photo, tmp_path / "me.JPG")
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / "folder").mkdir()
    ui.app.last_folder = str(tmp_path)
    ui.key(111, "o", ["ctrl"])
    dialog = ui.wait_dialog(OpenDialog)
    chooser = dialog.ids.chooser
    ui.pump(lambda: len(chooser.files) > 1, 20, "the file list")
    names = sorted(Path(f).name for f in chooser.files if Path(f).parent == tmp_path)
    assert names == ["folder", "me.JPG"]
    chooser.selection = [str(tmp_path / "me.JPG")]
    ui.frames(2)
    assert dialog.selected == str(tmp_path / "me.JPG") and dialog.ids.preview.texture is not None
    dialog.ids.open_button.dispatch("on_release")
    ui.wait_idle()
    assert ui.app.current == tmp_path / "me.JPG" and ui.app.result is not None


def test_dropping_a_file_opens_it(ui: Harness, face_photo):
    from kivy.core.window import Window

    Window.dispatch("on_drop_file", os.fsencode(str(face_photo)), 100, 100)
    ui.frames(1)
    ui.wait_idle()
    assert ui.app.current == face_photo and ui.app.result is not None


def test_settings_are_remembered_applied_and_reset(processed: Harness):
    from facedepth.app import gui_settings
    from facedepth.app.gui_settings import GuiSettings

    app, root = processed.app, processed.root
    assert GuiSettings().mesh_mode == "grid"
    root.ids.mode_poisson.dispatch("on_release")
    root.ids.quality_fast.dispatch("on_release")
    root.detect_face = False
    processed.frames(2)
    assert root.settings_changed and not root.ids.rebuild_button.disabled
    ini = Path(app.get_application_config())
    stored = configparser.ConfigParser()
    stored.read(ini)
    assert stored.get(gui_settings.SECTION, "mesh_mode") == "poisson"
    assert stored.get(gui_settings.SECTION, "detect_face") == "0"
    assert stored.get(gui_settings.SECTION, "quality") == "fast"

    root.ids.rebuild_button.dispatch("on_release")
    processed.wait_idle()
    assert "poisson surface" in app.result.timings
    assert not app.result.face_found and not root.settings_changed

    root.ids.reset_button.dispatch("on_release")
    processed.frames(2)
    assert app.settings == GuiSettings()
    stored.read(ini)
    assert stored.get(gui_settings.SECTION, "mesh_mode") == GuiSettings().mesh_mode
    assert stored.get(gui_settings.SECTION, "quality") == GuiSettings().quality == "best"


def test_screenshot_option_saves_the_window_and_exits(tiny_weights, tmp_path, face_photo, gui):
    out = tmp_path / "shot.png"
    env = dict(os.environ, FACEDEPTH_WEIGHTS=str(tiny_weights), KIVY_HOME=str(tmp_path / "kivy"),
               XDG_CONFIG_HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "facedepth.app.main", str(face_photo), "--screenshot", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    shot = Image.open(out)
    assert shot.size[0] >= 960 and shot.size[1] >= 600  # at least the window's minimum size
    assert np.asarray(shot).std() > 10


def test_bad_files_by_drop_are_dialogs_and_the_window_stays_usable(ui: Harness, tmp_path, face_photo):
    """Issue 14.9: the probe's bad inputs through drag-and-drop end in a dialog, and the next photo works."""
    from kivy.core.window import Window

    cases = [(corpus.symlink_loop(tmp_path), "Cannot open this file", "symbolic links"),
             (corpus.strip(tmp_path, face_photo), "No face found", "strip.png"),
             (tmp_path / "gone.jpg", "Cannot open this file", "file not found")]
    for path, title, fragment in cases:
        Window.dispatch("on_drop_file", os.fsencode(str(path)), 100, 100)
        dialog = ui.wait_dialog()
        assert dialog.title == title and fragment in dialog.message, (path, dialog.title, dialog.message)
        dialog.press(dialog.button_labels[-1])
        ui.wait_idle()
    ui.process(corpus.float_rgb_tiff(tmp_path, face_photo))  # the float32 RGB TIFF the CLI refused
    assert ui.app.result is not None and ui.view.has_scene


def test_save_to_a_full_or_read_only_folder_is_a_dialog(processed: Harness, tmpfs):
    app = processed.app
    read_only = tmpfs("64k", read_only=True)
    app.save(read_only, "face", ["ply"], ["npy"], True, False)
    dialog = processed.wait_dialog()
    assert dialog.title == "Cannot save" and "Read-only file system" in dialog.message
    dialog.press("OK")

    full = tmpfs("256k")
    (full / "face.ply").write_bytes(b"older mesh")
    app.save(full, "face", ["ply", "obj"], ["npy", "png16"], True, False, overwrite=True)
    dialog = processed.wait_dialog()
    assert dialog.title == "Could not save" and "No space left on device" in dialog.message
    assert sorted(p.name for p in full.iterdir()) == ["face.ply"] and (full / "face.ply").read_bytes() == b"older mesh"
    dialog.press("OK")

    app.save(full.parent, "f" * 260, ["ply"], [], False, False)
    dialog = processed.wait_dialog()
    assert dialog.title == "Could not save" and "choose a shorter name" in dialog.message
    dialog.press("OK")
    processed.process(processed.app.current)  # the window still works
    assert processed.app.result is not None


def test_foreign_weights_are_a_dialog(ui: Harness, foreign_weights, face_photo):
    from facedepth.app.worker import ProcessingWorker

    app = ui.app
    working = app.worker
    app.worker = ProcessingWorker(foreign_weights)
    try:
        app.preload()
        dialog = ui.wait_dialog()
        assert dialog.title == "Depth model unavailable" and "not a FaceDepth generator" in dialog.message
        dialog.press("OK")
        ui.process(face_photo)
        dialog = ui.wait_dialog()
        assert dialog.title == "Depth model unavailable"
        dialog.press("OK")
    finally:
        app.worker.shutdown()
        app.worker = working
    ui.process(face_photo)
    assert ui.app.result is not None


def test_bad_command_line_photo_is_a_dialog_then_exits(tiny_weights, tmp_path, gui):
    out = tmp_path / "shot.png"
    env = dict(os.environ, FACEDEPTH_WEIGHTS=str(tiny_weights), KIVY_HOME=str(tmp_path / "kivy"),
               XDG_CONFIG_HOME=str(tmp_path))
    loop = corpus.symlink_loop(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "facedepth.app.main", str(loop), "--screenshot", str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert Image.open(out).size[0] >= 960  # the window was up, showing its dialog
