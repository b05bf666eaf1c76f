"""Face detection and 68-point landmarks with dlib.

Detection runs dlib's HOG detector first (fast, frontal to about 45 degrees of yaw; its image pyramid is
scanned by two threads, :mod:`facedepth.model.hog`) on a copy no larger than ``DETECT_MAX_SIDE``; copies of
large photos are made by skipping pixels down to about twice the copy's size and averaging from there, so
detection costs about the same from 0.5 to 48 megapixels. When HOG finds nothing, dlib's CNN (MMOD) detector,
which also finds profiles and tilted heads, runs on a copy no larger than ``CNN_MAX_SIDE`` (about 1-2 s on 2
cores, so it is only the fallback). Landmarks come from the 68-point shape predictor, on the photo at full
resolution. All models ship inside PyPI wheels (dlib-bin, face-recognition-models), so nothing is downloaded
at run time. Detections scoring below ``min_score`` are dropped (HOG fires on face-like non-faces with low
scores).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from facedepth.model.hog import SplitPyramidDetector
from facedepth.model.imageops import resize_area
from facedepth.model.resources import face_model_path

logger = logging.getLogger(__name__)

DETECT_MAX_SIDE = 640
SMALL_IMAGE_SIDE = 400
CNN_MAX_SIDE = 400
CNN_MIN_SIDE = 20
"""The CNN detector is skipped when the copy it would see is narrower than this: dlib's CNN raises on images a
few pixels across (a 4000 x 32 strip shrinks to 400 x 3), and its 80-pixel window, even upsampled, cannot
find a face in less than 40."""
MIN_SCORE = 0.0
RELATIVE_MIN_SCORE = 0.25
"""A HOG detection scoring below this fraction of the photo's best is dropped: on the sample photo the mission
patch on the sleeve scores 0.07 against the face's 1.61, while real faces beside each other score within a
factor of two or three of each other."""
MIN_CNN_CONFIDENCE = 0.5


@dataclass(frozen=True)
class Face:
    """A detected face: bounding box (left, top, right, bottom) in pixels, score and 68 landmarks (x, y)."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


def _downscaled(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """A copy no larger than ``max_side`` and its scale. Photos more than 4x larger are first decimated
    (every k-th pixel) to about twice that size, then area-averaged: a full area resize of 48 megapixels
    took 440 ms, this 45 ms, for copies within about 1 grey level on average."""
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return np.ascontiguousarray(rgb), 1.0
    step = max(1, int(1 / (2 * scale)))
    source = np.ascontiguousarray(rgb[::step, ::step]) if step > 1 else rgb
    small = resize_area(source, round(w * scale), round(h * scale))
    return small, small.shape[1] / w


class FaceDetector:
    """Finds faces and their iBUG 68 landmarks in RGB uint8 images. ``threads`` (default: every CPU) above 1
    scans HOG's image pyramid in two threads; batch workers, which run side by side, use 1 each."""

    def __init__(self, min_score: float = MIN_SCORE, cnn_fallback: bool = True, threads: int | None = None) -> None:
        self.min_score = min_score
        self.cnn_fallback = cnn_fallback
        self.threads = threads or os.cpu_count() or 1

    @cached_property
    def _dlib(self):
        import dlib
        import face_recognition_models as frm

        detector = SplitPyramidDetector(dlib, split=self.threads > 1)
        predictor = dlib.shape_predictor(face_model_path(frm.pose_predictor_model_location()))
        return dlib, detector, predictor

    @cached_property
    def _cnn(self):
        import dlib
        import face_recognition_models as frm

        return dlib.cnn_face_detection_model_v1(face_model_path(frm.cnn_face_detector_model_location()))

    def _hog_boxes(self, rgb: np.ndarray) -> list[tuple[tuple[float, ...], float]]:
        _, detector, _ = self._dlib
        small, scale = _downscaled(rgb, DETECT_MAX_SIDE)
        upsample = 1 if max(small.shape[:2]) < SMALL_IMAGE_SIDE else 0
        found = detector.run(small, upsample, self.min_score)
        floor = RELATIVE_MIN_SCORE * max((score for _, score in found), default=0.0)
        return [(tuple(v / scale for v in box), score) for box, score in found if score >= floor]

    def _cnn_boxes(self, rgb: np.ndarray) -> list[tuple[tuple[float, ...], float]]:
        small, scale = _downscaled(rgb, CNN_MAX_SIDE)
        if min(small.shape[:2]) < CNN_MIN_SIDE:
            return []
        upsample = 1 if max(small.shape[:2]) < 200 else 0
        found = self._cnn(small, upsample)
        return [(tuple(v / scale for v in (d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom())),
                 float(d.confidence)) for d in found if d.confidence >= MIN_CNN_CONFIDENCE]

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """All faces found, largest first (HOG detector, else the CNN detector when enabled)."""
        dlib, _, predictor = self._dlib
        boxes = self._hog_boxes(rgb)
        if not boxes and self.cnn_fallback:
            boxes = self._cnn_boxes(rgb)
            logger.debug("HOG found no face; CNN detector found %d", len(boxes))
        image = np.ascontiguousarray(rgb)
        faces = []
        for box, score in boxes:
            shape = predictor(image, dlib.rectangle(*(round(v) for v in box)))
            pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
            faces.append(Face(box=box, score=score, landmarks=pts))
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    def largest(self, rgb: np.ndarray) -> Face | None:
        faces = self.detect(rgb)
        return faces[0] if faces else None
