"""The window's face choice helpers (no Kivy): where a click lands on the fitted photo, which box it picks,
and the file names the save dialog proposes."""

from __future__ import annotations

import pytest

from facedepth.app.gui_faces import face_at, face_stem, photo_point, shown_rect
from facedepth.app.messages import ALL_FACES


def test_contain_fit_is_centred_with_the_photo_aspect():
    assert shown_rect((10.0, 20.0), (400.0, 200.0), (800, 800)) == (110.0, 20.0, 200.0, 200.0)
    assert shown_rect((0.0, 0.0), (300.0, 600.0), (600, 300)) == (0.0, 225.0, 300.0, 150.0)


def test_window_points_map_to_photo_pixels_with_y_down():
    rect = (100.0, 50.0, 200.0, 100.0)  # a 400 x 200 photo drawn at half size
    assert photo_point((100.0, 150.0), rect, (400, 200)) == (0.0, 0.0)  # top-left corner
    assert photo_point((300.0, 50.0), rect, (400, 200)) == (400.0, 200.0)  # bottom-right corner
    assert photo_point((200.0, 100.0), rect, (400, 200)) == pytest.approx((200.0, 100.0))
    assert photo_point((99.0, 100.0), rect, (400, 200)) is None


def test_the_smallest_box_under_the_point_wins():
    boxes = [(0, 0, 100, 100), (40, 40, 60, 60), (200, 0, 260, 60)]
    assert face_at(boxes, (50, 50)) == 1
    assert face_at(boxes, (10, 10)) == 0
    assert face_at(boxes, (230, 30)) == 2
    assert face_at(boxes, (150, 30)) is None
    assert face_at(boxes, None) is None


def test_save_names_follow_the_command_line():
    assert face_stem("group", 1, 0) == "group"
    assert face_stem("group", 3, 0) == "group_face1"
    assert face_stem("group", 3, 2) == "group_face3"
    assert face_stem("group", 3, ALL_FACES) == "group"  # each face then saved as group_faceN
