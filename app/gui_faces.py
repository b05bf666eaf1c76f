"""Choosing among the photo's faces in the window: every detected box is drawn on the photo, the largest face
is processed first, and clicking another box (or "All faces") processes that one; the 3-D view, the depth
and the save dialog follow the chosen face. No Kivy import: :class:`FaceChoice` is mixed into
:class:`~facedepth.app.processing.PhotoProcessing`, and the geometry helpers are plain functions.
"""

from __future__ import annotations

from collections.abc import Sequence

from facedepth.app.messages import ALL_FACES

Box = tuple[float, float, float, float]


def shown_rect(widget_pos: tuple[float, float], widget_size: tuple[float, float],
               image_size: tuple[float, float]) -> tuple[float, float, float, float]:
    """(x, y, width, height) in window coordinates of an image drawn "contain"-fitted and centred."""
    (x, y), (width, height) = widget_pos, widget_size
    scale = min(width / max(image_size[0], 1), height / max(image_size[1], 1))
    shown_w, shown_h = image_size[0] * scale, image_size[1] * scale
    return x + (width - shown_w) / 2, y + (height - shown_h) / 2, shown_w, shown_h


def photo_point(touch: tuple[float, float], rect: tuple[float, float, float, float],
                photo_size: tuple[int, int]) -> tuple[float, float] | None:
    """The photo pixel (x right, y down) under a window point, or None off the picture."""
    x, y, width, height = rect
    fx, fy = (touch[0] - x) / max(width, 1e-9), (touch[1] - y) / max(height, 1e-9)
    if not (0.0 <= fx <= 1.0 and 0.0 <= fy <= 1.0):
        return None
    return fx * photo_size[0], (1.0 - fy) * photo_size[1]


def face_at(boxes: Sequence[Box], point: tuple[float, float] | None) -> int | None:
    """The index of the smallest box holding ``point`` (faces may overlap), or None."""
    if point is None:
        return None
    px, py = point
    inside = [(abs((right - left) * (bottom - top)), index) for index, (left, top, right, bottom) in enumerate(boxes)
              if left <= px <= right and top <= py <= bottom]
    return min(inside)[1] if inside else None


def face_stem(stem: str, face_count: int, choice: int | str | None) -> str:
    """The save dialog's file name: the photo's stem, ``<stem>_faceN`` for one face of several (the names
    the command line uses); "all faces" saves each as ``<stem>_faceN`` from the plain stem."""
    if face_count <= 1 or choice == ALL_FACES or choice is None:
        return stem
    return f"{stem}_face{int(choice) + 1}"


class FaceChoice:
    """The face state of :class:`~facedepth.app.processing.PhotoProcessing`, which it is mixed into and which
    provides ``open(path, detect=..., face=...)``, ``show_result(view)``, ``current`` and ``app``."""

    def reset_faces(self) -> None:
        self.face_boxes: list[Box] = []
        self.photo_size: tuple[int, int] = (0, 0)
        self.face_views: dict = {}
        self.chosen_face: int | str | None = None
        if self.app.root is not None:
            self.app.root.face_count, self.app.root.all_faces = 0, False

    def _on_faces(self, boxes: list[Box], size: tuple[int, int]) -> None:
        self.face_boxes, self.photo_size = list(boxes), tuple(size)
        self.app.root.face_count = len(boxes)

    def face_done(self, view) -> bool:
        """Keeps a finished face's view; True when it is the one to show now."""
        self.face_views[view.face_index] = view
        if self.chosen_face is None:
            self.chosen_face = view.face_index
        return self.chosen_face in (view.face_index, ALL_FACES)

    def choose_face(self, choice: int | str) -> None:
        """Shows face ``choice`` (an index into the boxes left to right, or ALL_FACES), processing it first
        when it has not been done yet."""
        if self.current is None or (choice != ALL_FACES and not 0 <= int(choice) < len(self.face_boxes)):
            return
        self.app.root.all_faces = choice == ALL_FACES
        if self.app.root.settings_changed:  # the faces done so far were made with other settings
            self.face_views.clear()
        if choice != ALL_FACES and choice in self.face_views:
            self.chosen_face = choice
            self.show_result(self.face_views[choice])
            return
        if choice == ALL_FACES and len(self.face_views) == len(self.face_boxes):
            self.chosen_face = ALL_FACES
            self.show_result(self.face_views[max(self.face_views)])
            return
        self.chosen_face = choice
        self.open(self.current, detect=self.detect_used, face=choice)

    def on_photo_touch(self, image, touch) -> bool:
        """A click on the photo picks the face under it."""
        if not image.collide_point(*touch.pos) or len(self.face_boxes) < 2 or image.texture is None:
            return False
        rect = shown_rect(tuple(image.pos), tuple(image.size), tuple(image.texture.size))
        index = face_at(self.face_boxes, photo_point(touch.pos, rect, self.photo_size))
        if index is None:
            return False
        self.choose_face(index)
        return True

    def faces_to_save(self) -> tuple[int, ...]:
        if self.chosen_face == ALL_FACES:
            return tuple(sorted(self.face_views))
        return (int(self.chosen_face or 0),)

    def save_stem(self) -> str:
        stem = self.current.stem if self.current else "face"
        return face_stem(stem, len(self.face_boxes), self.chosen_face)
