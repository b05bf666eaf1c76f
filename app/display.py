"""What the window shows for one result, prepared in the processing engine (numpy/Pillow, no Kivy).

Pictures are RGB uint8 arrays no larger than ``MAX_DISPLAY_SIDE`` so that turning them into textures on
the main thread takes a few milliseconds whatever the photo's resolution. The window unpickles
:class:`ResultView` without importing Open3D (its imports here are deferred).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from facedepth.app.meshbuffers import SceneBuffers
from facedepth.model.depthcode import valid_depth
from facedepth.model.files import atomic_write
from facedepth.model.imageops import resize_area

if TYPE_CHECKING:
    from facedepth.app.pipeline import PipelineResult

MAX_DISPLAY_SIDE = 1280
FACE_BOX_COLOR = (80, 200, 255)
OTHER_BOX_COLOR = (255, 210, 90)
"""Boxes of the photo's other faces (click one to process it)."""
LEGEND_STEPS = 256


@dataclass
class ResultView:
    photo: np.ndarray
    """The photo with the detected face box drawn (downscaled)."""
    depth: np.ndarray
    """Colour-mapped depth around the face (near = warm, black = no depth)."""
    legend: np.ndarray
    """(1, LEGEND_STEPS, 3) colour ramp from near (left) to far (right)."""
    near_mm: float
    far_mm: float
    scene: SceneBuffers | None
    depth_mm: np.ndarray
    """(H, W) float32 depth on the photo's grid, NaN outside the face."""
    face_found: bool
    face_index: int = 0
    """Which of the photo's faces (left to right) this is."""
    face_count: int = 1
    triangles: int = 0
    vertices: int = 0
    lines: int = 0
    points: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    """The pipeline's seconds per stage ("total" included)."""


def downscale(rgb: np.ndarray, max_side: int = MAX_DISPLAY_SIDE) -> tuple[np.ndarray, float]:
    """A copy no larger than ``max_side`` on its long side, and the scale factor applied."""
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return rgb.copy(), 1.0
    return resize_area(rgb, max(1, round(w * scale)), max(1, round(h * scale))), scale


def photo_with_face_boxes(rgb: np.ndarray, boxes: list[tuple[float, float, float, float]],
                          highlight: tuple[int, ...] | list[int] = ()) -> np.ndarray:
    """Downscaled photo with every face box (left, top, right, bottom in photo pixels) outlined: the boxes
    of the faces in ``highlight`` bright and thick, the others dim."""
    small, scale = downscale(rgb)
    if boxes:
        # the panel shows the picture a few hundred pixels wide: lines a fraction of its size stay visible
        thickness = max(2, round(max(small.shape[:2]) / (320 if len(boxes) == 1 else 150)))
        picture = Image.fromarray(small)
        draw = ImageDraw.Draw(picture)
        for index, box in enumerate(boxes):
            left, top, right, bottom = (round(v * scale) for v in box)
            chosen = index in highlight
            draw.rectangle((left, top, right, bottom), outline=FACE_BOX_COLOR if chosen else OTHER_BOX_COLOR,
                           width=thickness if chosen else max(1, round(thickness * 0.6)))
        small = np.array(picture)
    return small


def depth_picture(depth_mm: np.ndarray, region: tuple[float, float, float, float]) -> np.ndarray:
    """Colour map of ``depth_mm`` cut to ``region`` (left, top, right, bottom; clamped to the image)."""
    h, w = depth_mm.shape
    left, top, right, bottom = region
    x0, y0 = max(0, int(np.floor(left))), max(0, int(np.floor(top)))
    x1, y1 = min(w, int(np.ceil(right))), min(h, int(np.ceil(bottom)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        x0, y0, x1, y1 = 0, 0, w, h
    from facedepth.reconstruction.export import colorize_depth

    return downscale(colorize_depth(depth_mm[y0:y1, x0:x1]))[0]


def depth_range(depth_mm: np.ndarray) -> tuple[float, float]:
    """(nearest, farthest) valid depth in mm; (nan, nan) when there is none."""
    valid = depth_mm[valid_depth(depth_mm)]
    if valid.size == 0:
        return float("nan"), float("nan")
    return float(valid.min()), float(valid.max())


def legend_ramp(near_mm: float, far_mm: float) -> np.ndarray:
    """The colour map's ramp from ``near_mm`` to ``far_mm`` (same colours as the depth picture)."""
    if not np.isfinite(near_mm) or not far_mm > near_mm:
        near_mm, far_mm = 0.0, 1.0
    from facedepth.reconstruction.export import colorize_depth

    return colorize_depth(np.linspace(near_mm, far_mm, LEGEND_STEPS, dtype=np.float32)[None, :])


def result_view(result: PipelineResult, boxes: list[tuple[float, float, float, float]] | None = None,
                index: int = 0, highlight: list[int] | None = None) -> ResultView:
    """What the window shows for face ``index`` of a photo whose faces have ``boxes`` (left to right; by
    default the result's own face), with the boxes of ``highlight`` (default: this face) drawn bright."""
    from facedepth.app.meshbuffers import scene_buffers

    prediction = result.prediction
    if boxes is None:
        boxes = [prediction.face.box] if prediction.face is not None else []
    near, far = depth_range(prediction.depth_mm)
    view = ResultView(photo=photo_with_face_boxes(prediction.image, boxes, highlight if highlight else [index]),
                      depth=depth_picture(prediction.depth_mm, prediction.box.corners()),
                      legend=legend_ramp(near, far), near_mm=near, far_mm=far, scene=None,
                      depth_mm=prediction.depth_mm, face_found=prediction.face is not None, face_index=index,
                      face_count=max(1, len(boxes)),
                      timings=dict(result.timings))
    recon = result.reconstruction
    if recon is not None:
        view.scene = scene_buffers(recon.mesh, recon.point_cloud, recon.wireframe, recon.texture)
        view.triangles, view.vertices = len(recon.mesh.triangles), len(recon.mesh.vertices)
        view.lines, view.points = len(recon.wireframe.lines), len(recon.point_cloud.points)
    return view


def write_png(pixels: np.ndarray, path: Path, overwrite: bool = False) -> Path:
    """Atomically writes an RGB array as PNG (refuses to replace an existing file unless ``overwrite``)."""
    return atomic_write(Path(path), lambda temp: Image.fromarray(pixels).save(temp, format="PNG"), overwrite)
