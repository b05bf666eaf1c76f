"""dlib's HOG face detector with its image pyramid scanned by two threads at once.

dlib scans an image pyramid, each level 5/6 the size of the one before, with its five face filters, then keeps
the best of every group of overlapping detections. On 2 cores one call keeps one core busy, and most of its
time goes into the pyramid's first levels. :class:`SplitPyramidDetector` scans levels below ``SPLIT_LEVEL`` in
the calling thread (a copy of the detector limited to those levels) and the rest in a helper thread (the whole
detector on the first level it skips, made by dlib's own resampling, so its features are the same), then
applies dlib's suppression of overlapping detections to both halves together. Detections, scores and boxes
equal one call's (the helper's boxes are mapped back to the level they were found on, then up to the image in
one go, as dlib maps them).

The level limit and the overlap thresholds live in the detector's serialised form (dlib's ``save``), which
the Python bindings offer no other way to read or change; :func:`fine_levels_copy` reads and rewrites it and
returns None when the layout is not the one it knows (another dlib version), so callers fall back to one call.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

SPLIT_LEVEL = 2
"""Levels 0-1 hold 52 % of the pyramid's pixels (1 + 25/36 of 1 / (1 - 25/36)): the calling thread scans them."""
PYRAMID_RATE = 5 / 6
"""dlib's ``pyramid_down<6>``: each level is 5/6 of the one before."""
Box = tuple[tuple[float, float, float, float], float]
"""((left, top, right, bottom), score) in the scanned image's pixels."""


@dataclass(frozen=True)
class OverlapTest:
    """dlib's ``test_box_overlap``: two boxes overlap when their intersection exceeds ``match`` of the box
    around both, or ``covered`` of either box (areas count pixels inclusively, as dlib's rectangles do)."""

    match: float
    covered: float

    def __call__(self, a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        inner = _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
        if inner == 0:
            return False
        outer = _area((min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])))
        return inner / outer > self.match or inner / _area(a) > self.covered or inner / _area(b) > self.covered


def _area(box: tuple[float, ...]) -> float:
    width, height = box[2] - box[0] + 1, box[3] - box[1] + 1
    return width * height if width > 0 and height > 0 else 0.0


def suppressed(found: list[Box], overlaps: OverlapTest) -> list[Box]:
    """dlib's non-maximum suppression: best score first, each box kept unless it overlaps one kept already."""
    kept: list[Box] = []
    for box, score in sorted(found, key=lambda item: -item[1]):
        if not any(overlaps(box, other) for other, _ in kept):
            kept.append((box, score))
    return kept


def _read_int(data: bytes, pos: int) -> tuple[int, int]:
    """One integer of dlib's serialisation: a byte with the length (and 0x80 for negative), then
    little-endian bytes."""
    head = data[pos]
    size, negative = head & 0x0F, head & 0x80
    value = int.from_bytes(data[pos + 1:pos + 1 + size], "little")
    return (-value if negative else value), pos + 1 + size


def _int_bytes(value: int) -> bytes:
    body = abs(value).to_bytes(max(1, (abs(value).bit_length() + 7) // 8), "little")
    return bytes([len(body) | (0x80 if value < 0 else 0)]) + body


def _read_float(data: bytes, pos: int) -> tuple[float, int]:
    """A double of dlib's serialisation: mantissa and binary exponent, each an integer."""
    mantissa, pos = _read_int(data, pos)
    exponent, pos = _read_int(data, pos)
    return mantissa * 2.0**exponent, pos


def fine_levels_copy(dlib, detector, levels: int) -> tuple[object, OverlapTest] | None:
    """A copy of ``detector`` (a ``dlib.fhog_object_detector``) that scans only the first ``levels`` pyramid
    levels, and the detector's overlap test; None when its serialised layout is not the known one.

    The layout (dlib 19-20, ``object_detector`` version 2 of a ``scan_fhog_pyramid`` version 1): the two
    versions, the feature extractor and the (empty) feature pyramid, cell size, padding, window width and
    height, maximum pyramid levels, minimum level width and height, nuclear norm strength, feature dimensions,
    then the overlap test's two thresholds and the filters."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "detector.svm")
        detector.save(path)
        with open(path, "rb") as f:
            data = f.read()
        try:
            pos, fields = 0, []
            for _ in range(11):
                value, pos = _read_int(data, pos)
                fields.append((value, pos))
            _, pos = _read_float(data, pos)  # nuclear norm regularisation strength
            _, pos = _read_int(data, pos)  # feature dimensions
            match, pos = _read_float(data, pos)
            covered, pos = _read_float(data, pos)
            filters, _ = _read_int(data, pos)
        except IndexError:
            return None
        values = [value for value, _ in fields]
        if (values[:2] != [2, 1] or values[6:8] != [detector.detection_window_width, detector.detection_window_height]
                or filters != detector.num_detectors or not (0 <= match <= 1 and 0 <= covered <= 1)):
            logger.debug("unexpected layout of dlib's serialised face detector: %s", values)
            return None
        end_of_levels, start_of_levels = fields[8][1], fields[7][1]
        with open(path, "wb") as f:
            f.write(data[:start_of_levels] + _int_bytes(levels) + data[end_of_levels:])
        return dlib.fhog_object_detector(path), OverlapTest(match, covered)


class SplitPyramidDetector:
    """``dlib.get_frontal_face_detector()`` scanned by two threads (see the module docstring; one, as dlib's
    own, without ``split``); ``run`` has the arguments of dlib's and returns (box, score) pairs, best first. One
    call at a time: dlib's detectors hold their feature pyramid between the scan's steps."""

    def __init__(self, dlib, split: bool = True) -> None:
        self._dlib = dlib
        self.whole = dlib.get_frontal_face_detector()
        self._window = max(self.whole.detection_window_width, self.whole.detection_window_height)
        copy = fine_levels_copy(dlib, self.whole, SPLIT_LEVEL) if split else None
        self.fine, self.overlaps = copy if copy is not None else (None, None)
        self._helper: tuple[int, ThreadPoolExecutor] | None = None
        self._lock = threading.Lock()

    def run(self, image: np.ndarray, upsample: int, adjust_threshold: float) -> list[Box]:
        with self._lock:
            # dlib's 2x upsampling has no Python binding to make the helper's level from, so those run whole
            if upsample or self.fine is None:
                return _boxes(*self.whole.run(image, upsample, adjust_threshold)[:2])
            coarse = self._helper_thread().submit(self._coarse_levels, image, adjust_threshold)
            found = _boxes(*self.fine.run(image, 0, adjust_threshold)[:2])
            return suppressed(found + coarse.result(), self.overlaps)

    def _helper_thread(self) -> ThreadPoolExecutor:
        """The helper, started in this process: a forked child inherits the parent's executor without its
        thread, and work handed to that would wait for ever."""
        if self._helper is None or self._helper[0] != os.getpid():
            self._helper = os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="hog-coarse")
        return self._helper[1]

    def _coarse_levels(self, image: np.ndarray, adjust_threshold: float) -> list[Box]:
        """The whole detector on pyramid level SPLIT_LEVEL (dlib's resampling, as its pyramid makes it), each box
        mapped back to the image from the level it was found on, as one call maps it (:func:`_image_box`)."""
        level = image
        for _ in range(SPLIT_LEVEL):
            level = self._dlib.resize_image(level, 5 * level.shape[0] // 6, 5 * level.shape[1] // 6)
        rects, scores = self.whole.run(np.ascontiguousarray(level), 0, adjust_threshold)[:2]
        return [(_image_box(box, self._window), score) for box, score in _boxes(rects, scores)]


def _rounded(value: float) -> float:
    """dlib's drectangle -> rectangle rounding."""
    return float(math.floor(value + 0.5))


def _point_up(value: float, levels: int) -> float:
    """``pyramid_down<6>::point_up``, level by level as dlib does it."""
    for _ in range(levels):
        value = value / PYRAMID_RATE + 0.3
    return value


def _point_down(value: float, levels: int) -> float:
    """``pyramid_down<6>::point_down``: the inverse of :func:`_point_up`."""
    for _ in range(levels):
        value = (value - 0.3) * PYRAMID_RATE
    return value


def _image_box(box: tuple[float, ...], window: int) -> tuple[float, ...]:
    """A box that dlib found ``m`` levels below SPLIT_LEVEL and returned mapped up to SPLIT_LEVEL (rounded to
    pixels), on the original image's pixels as one call would return it: mapped up from the level it was found
    on in one go. dlib's boxes on their own level are never wider than its detection window and a level's boxes
    are 1.2 times its next's, so ``m`` is the first whose inverse fits the window; the inverse is exact, as the
    mapping up stretches by at least 1 and its rounding moves a box by at most half a pixel."""
    for m in range(64):
        found = [_rounded(_point_down(v, m)) for v in box]
        if max(found[2] - found[0], found[3] - found[1]) <= window:
            return tuple(_rounded(_point_up(v, SPLIT_LEVEL + m)) for v in found)
    return tuple(_rounded(_point_up(v, SPLIT_LEVEL)) for v in box)


def _boxes(rects, scores) -> list[Box]:
    return [((float(r.left()), float(r.top()), float(r.right()), float(r.bottom())), float(s))
            for r, s in zip(rects, scores, strict=True)]
