"""One RGB photo -> metric depth map on the photo's own pixel grid, plus the camera that goes with it.

Steps: find the faces (dlib, 68 landmarks; the largest unless one is named) -> square crop box from landmarks 18-68
(:func:`facedepth.model.crop.box_from_landmarks`; the whole image when detection is off) -> 256 x 256 crop scaled
to [-1, 1] -> generator -> depth code (256 x 256) -> code resampled back onto the photo (bilinear among
face pixels, :func:`facedepth.model.depthcode.warped`; off the crop = background) -> face mask
``code < spec.MASK_THRESHOLD`` -> millimetres with :func:`facedepth.model.depthcode.decode`.

Depth convention (see :mod:`facedepth.model.spec`): ``depth_mm`` is the distance from the camera along the optical
axis, larger = farther, NaN outside the face. A single photo cannot give scale, so the crop square is
assumed to span ``spec.NOMINAL_CROP_SIDE_MM`` at the face and the nearest face point (the nose tip) to lie
``spec.NOMINAL_NEAR_MM`` from the camera. The pinhole camera consistent with that assumption sees
``crop side`` pixels as ``NOMINAL_CROP_SIDE_MM`` at distance ``NOMINAL_NEAR_MM``, so its focal length is
``f = box.side * NOMINAL_NEAR_MM / NOMINAL_CROP_SIDE_MM`` pixels (same in x and y); its principal point
is the image centre ``((W - 1) / 2, (H - 1) / 2)`` in pixel-index coordinates (pixel (0, 0) is the
centre of the top-left pixel). Back-projecting (u, v, z) with this camera gives a face whose width in
millimetres matches the nominal crop size whatever the photo's resolution.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from facedepth.model import crop, depthcode, spec
from facedepth.model.face import Face, FaceDetector
from facedepth.model.imageops import inside_mask
from facedepth.model.inference import AtTrainingScale, DepthEstimator
from facedepth.model.progress import Stage


class NoFaceError(ValueError):
    """Face detection found nothing in the photo."""


@dataclass
class DepthPrediction:
    image: np.ndarray
    """(H, W, 3) uint8 RGB, orientation-corrected: the grid all other arrays live on."""
    depth_mm: np.ndarray
    """(H, W) float32 distance along the optical axis in mm; NaN outside the face."""
    mask: np.ndarray
    """(H, W) bool, True on the face."""
    code: np.ndarray
    """(256, 256) float32 raw generator output on ``view``'s grid."""
    box: crop.CropBox
    """The crop rule's square (:func:`facedepth.model.crop.box_from_landmarks`): the camera's scale."""
    view: crop.CropBox
    """The square the generator was shown, which ``code`` covers: ``box``, or narrower where the estimator's
    training-scale zoom was folded into the crop (see :meth:`DepthService.predict`)."""
    face: Face | None
    camera: tuple[float, float, float, float]
    """(fx, fy, cx, cy) in image pixels."""
    isolated: bool = False
    """Only the face region joined to the crop's centre was kept (see :func:`face_code`)."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per stage: "detect", "crop", "generator", "uncrop"."""

    def crop_depth_mm(self) -> np.ndarray:
        """The depth on the generator's own (IMAGE_SIZE x IMAGE_SIZE) crop grid, NaN outside the face and
        where the crop runs off the photo: the same surface as ``depth_mm``, without its resampling."""
        size = self.code.shape[0]
        depth = depthcode.decode(face_code(self.code, self.isolated), crop_side_mm=spec.NOMINAL_CROP_SIDE_MM)
        height, width = self.depth_mm.shape
        depth[~inside_mask(self.view.to_crop_matrix(size), width, height, size, size)] = np.nan
        return depth

    def crop_image(self) -> np.ndarray:
        """The photo resampled onto the code's grid: what the generator was shown."""
        return crop.crop_image(self.image, self.view, self.code.shape[0])


def camera_for_box(box: crop.CropBox, width: int, height: int) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) of the pinhole camera implied by the nominal crop size and nose distance."""
    f = box.side * spec.NOMINAL_NEAR_MM / spec.NOMINAL_CROP_SIDE_MM
    return f, f, (width - 1) / 2, (height - 1) / 2


def face_code(code: np.ndarray, isolate: bool = False) -> np.ndarray:
    """The generator's code with its face outline trimmed and, with ``isolate``, every face region not
    4-connected to the crop's centre (the landmarks' centre, on the face) set to background."""
    kept = depthcode.trim_prediction(code)
    if not isolate:
        return kept
    centre = code.shape[0] // 2
    region = depthcode.region_at(depthcode.face_mask(kept), centre, centre)
    return np.where(region, kept, np.float32(spec.BACKGROUND_CODE)).astype(np.float32)


def _check_rgb(rgb: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")


class DepthService:
    """Face detection + depth generator; reuse one instance for many photos (models load once)."""

    def __init__(self, estimator: DepthEstimator, detector: FaceDetector | None = None) -> None:
        self.estimator = estimator
        self.detector = detector if detector is not None else FaceDetector()

    def find_faces(self, rgb: np.ndarray) -> list[Face]:
        """Every face in ``rgb``, largest first; NoFaceError when there is none."""
        _check_rgb(rgb)
        faces = self.detector.detect(rgb)
        if not faces:
            raise NoFaceError("no face found in the image; use --no-detect to process the whole image")
        return faces

    def predict(self, rgb: np.ndarray, detect: bool = True, progress: Callable[[Stage], None] | None = None,
                face: Face | None = None, isolate: bool = False) -> DepthPrediction:
        """Depth of ``face`` (found by :meth:`find_faces`) or else of the largest face in ``rgb`` (H, W, 3
        uint8), or of the whole image when ``detect`` is off. ``isolate`` keeps only the face region joined
        to the crop's centre (:func:`face_code`), for photos with several faces, where a neighbour's face can
        reach into the crop.

        ``progress`` (optional, e.g. a :class:`~facedepth.model.progress.Progress`) is called with
        Stage.DETECTING_FACE and Stage.ESTIMATING_DEPTH as they start.

        An :class:`~facedepth.model.inference.AtTrainingScale` estimator's zoom is folded into the crop: the
        photo is cropped once, straight to the square the generator sees, and the code is mapped from there
        back onto the photo, instead of a crop, a zoom, an unzoom and an uncrop.
        """
        report = progress or (lambda _stage: None)
        _check_rgb(rgb)
        height, width = rgb.shape[:2]
        timings: dict[str, float] = {}

        start = time.perf_counter()
        if detect:
            report(Stage.DETECTING_FACE)
            if face is None:
                face = self.find_faces(rgb)[0]
            box = crop.box_from_landmarks(face.landmarks)
        else:
            face, box = None, crop.whole_image_box(width, height)
        timings["detect"] = time.perf_counter() - start

        report(Stage.ESTIMATING_DEPTH)
        start = time.perf_counter()
        if isinstance(self.estimator, AtTrainingScale):
            view, estimator = self.estimator.view(box), self.estimator.inner
        else:
            view, estimator = box, self.estimator
        photo = spec.to_network_input(crop.crop_image(rgb, view))
        timings["crop"] = time.perf_counter() - start

        start = time.perf_counter()
        code = np.asarray(estimator(photo[None]), np.float32)[0, ..., 0]
        timings["generator"] = time.perf_counter() - start

        start = time.perf_counter()
        full_code = depthcode.uncropped(face_code(code, isolate), view, width, height)
        mask = depthcode.face_mask(full_code)
        depth = depthcode.decode(full_code, crop_side_mm=spec.NOMINAL_CROP_SIDE_MM)
        timings["uncrop"] = time.perf_counter() - start

        return DepthPrediction(image=rgb, depth_mm=depth, mask=mask, code=code, box=box, view=view, face=face,
                               camera=camera_for_box(box, width, height), isolated=isolate, timings=timings)
