"""Photo -> depth -> mesh, and writing the results: the glue shared by the CLI and the GUI (no Kivy here).

Output names for a face with stem ``<stem>`` (the photo's, or ``<stem>_face1`` ... when a photo has several
faces): ``<stem>.<ply|obj|stl|glb>`` (mesh; an OBJ with ``<stem>.mtl`` and ``<stem>_texture.png``),
``<stem>_depth.png`` (16-bit depth, 0.1 mm steps), ``<stem>_depth.npy`` (float32 mm, NaN outside the face,
the photo's full size), ``<stem>_depth_color.png`` (colour map) and ``<stem>_wireframe.ply`` (the mesh's
edges).
"""

from __future__ import annotations

import errno
import logging
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import trimesh

from facedepth.app import interrupts
from facedepth.model import files, native, resources, spec
from facedepth.model.face import Face, FaceDetector
from facedepth.model.imageio import load_photo
from facedepth.model.inference import load_app_estimator
from facedepth.model.progress import Progress, Stage
from facedepth.model.service import DepthPrediction, DepthService
from facedepth.reconstruction import export
from facedepth.reconstruction.camera import PinholeCamera
from facedepth.reconstruction.settings import SolidSettings
from facedepth.reconstruction.solid import relief_solid
from facedepth.reconstruction.surface import MeshSettings, Reconstruction, reconstruct

logger = logging.getLogger(__name__)

DEPTH_FILE_SUFFIX = {"png16": "_depth.png", "npy": "_depth.npy", "color": "_depth_color.png"}
WIREFRAME_SUFFIX = "_wireframe.ply"


@dataclass
class PipelineSettings:
    detect: bool = True
    """Find the largest face and crop around it; off = treat the whole image as the face crop."""
    mesh: MeshSettings | None = field(default_factory=MeshSettings)
    """How to build the mesh; None = depth map only, no mesh."""
    quality: str = resources.DEFAULT_QUALITY
    """Which generator runs, and how (:data:`facedepth.model.resources.GENERATOR_FILES`): "fast" or "best"."""


@dataclass
class PipelineResult:
    prediction: DepthPrediction
    reconstruction: Reconstruction | None
    timings: dict[str, float]
    """Seconds per stage: "load" (and "load model" on a first run), the prediction's and the
    reconstruction's stages, and "total"."""

    def camera(self) -> PinholeCamera:
        return camera_of(self.prediction)


def camera_of(prediction: DepthPrediction) -> PinholeCamera:
    fx, fy, cx, cy = prediction.camera
    height, width = prediction.depth_mm.shape
    return PinholeCamera(fx=fx, fy=fy, cx=cx, cy=cy, width=width, height=height)


class Pipeline:
    """Loads each quality's generator on first use (raises WeightsError) and keeps it, and the face detector
    (shared by both), warm. ``weights`` replaces the bundled file of every quality."""

    def __init__(self, weights: Path | None = None, num_threads: int | None = None) -> None:
        self.weights = weights
        self.num_threads = num_threads
        """Threads for the generator (LiteRT) and face detection (default: every CPU)."""
        self._detector = FaceDetector(threads=num_threads)  # its dlib models load on first use
        self._services: dict[str, DepthService] = {}

    def service(self, quality: str = resources.DEFAULT_QUALITY) -> DepthService:
        """The depth service of ``quality``, its generator loaded and checked on the first call."""
        if quality not in self._services:
            estimator = load_app_estimator(self.weights, self.num_threads, quality)
            self._services[quality] = DepthService(estimator, self._detector)
        return self._services[quality]

    def find_faces(self, rgb: np.ndarray, settings: PipelineSettings | None = None) -> list[Face | None]:
        """The faces :meth:`run` can be asked for, numbered left to right (see :func:`face_stems`); ``[None]``
        (the whole image) when detection is off. Raises NoFaceError when detection finds nothing."""
        if settings is not None and not settings.detect:
            return [None]
        return sorted(self.service(settings.quality if settings else resources.DEFAULT_QUALITY).find_faces(rgb),
                      key=lambda face: face.box[0] + face.box[2])

    def run(
        self,
        source: Path | np.ndarray,
        settings: PipelineSettings | None = None,
        progress: Callable[[Stage, float], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        face: Face | None = None,
        isolate: bool = False,
    ) -> PipelineResult:
        """One photo (a file or an RGB uint8 array) through depth estimation and, if asked, meshing, for
        ``face`` (one of :meth:`find_faces`) or else the largest face; ``isolate`` (for photos with several
        faces) keeps only the face region joined to that face's centre, so no neighbour's face is in it.
        ``progress(stage, fraction)`` hears each :class:`~facedepth.model.progress.Stage` as it starts.

        Raises ImageLoadError, NoFaceError, WeightsError, ValueError("too few face points ...") and
        model.progress.Cancelled when ``cancelled()`` turns True between stages.
        """
        settings = settings or PipelineSettings()
        started = time.perf_counter()
        timings: dict[str, float] = {}
        stage = Progress(progress, cancelled)

        stage(Stage.LOADING)
        if settings.quality not in self._services:
            start = time.perf_counter()
            self.service(settings.quality)  # loads the generator, timed separately from the photo
            timings["load model"] = time.perf_counter() - start
        start = time.perf_counter()
        rgb = load_photo(Path(source)) if not isinstance(source, np.ndarray) else source
        timings["load"] = time.perf_counter() - start

        prediction = self.service(settings.quality).predict(rgb, detect=settings.detect, progress=stage, face=face,
                                                            isolate=isolate)
        timings.update(prediction.timings)

        recon = None
        if settings.mesh is not None:
            depth, rgb_grid, grid_camera, grid_side = sampling_grid(prediction)
            with native.stderr_to_log(logger, "Open3D"):  # Poisson warnings would flood stderr
                recon = reconstruct(depth, rgb_grid, grid_camera, scaled_to_face(settings.mesh, grid_side),
                                    progress=stage, photo=(prediction.image, camera_of(prediction)))
            timings.update(recon.timings)
        if progress is not None:
            progress(Stage.DONE, Stage.DONE.fraction)
        timings["total"] = time.perf_counter() - started
        return PipelineResult(prediction=prediction, reconstruction=recon, timings=timings)


def solid_of(prediction: DepthPrediction, settings: SolidSettings | None = None) -> trimesh.Trimesh:
    """The printable relief of a prediction, from the depth on :func:`sampling_grid`'s grid at the generator's
    full resolution (every pixel of the 256 grid, every few photo pixels of a larger face)."""
    depth, _, camera, side = sampling_grid(prediction)
    return relief_solid(depth, camera, settings, stride=max(1, math.ceil(side / spec.IMAGE_SIZE)))


def face_stems(stem: str, count: int) -> list[str]:
    """Output stems for the faces of one photo: ``stem`` for a single face, else ``<stem>_face1`` ...
    ``<stem>_faceN`` (faces numbered left to right, as :meth:`Pipeline.find_faces` orders them)."""
    return [stem] if count == 1 else [f"{stem}_face{number}" for number in range(1, count + 1)]


def sampling_grid(prediction: DepthPrediction) -> tuple[np.ndarray, np.ndarray, PinholeCamera, float]:
    """The depth map, colours and camera to build the mesh from, and the grid's pixels across the crop.

    A face whose crop spans fewer photo pixels than the generator's IMAGE_SIZE is sampled on the generator's
    own crop grid (its output as predicted), so a small face gets as many samples as a large one; a larger
    face on the photo's grid (``prediction.depth_mm``, sampled every few pixels by :func:`scaled_to_face`).
    """
    box = prediction.view
    if box.side >= spec.IMAGE_SIZE:
        return prediction.depth_mm, prediction.image, camera_of(prediction), box.side
    size = prediction.code.shape[0]
    camera = camera_of(prediction).resampled(box.to_crop_matrix(size), size, size)
    return prediction.crop_depth_mm(), prediction.crop_image(), camera, float(size)


def scaled_to_face(mesh: MeshSettings, crop_side_px: float) -> MeshSettings:
    """The stride for a grid with ``crop_side_px`` pixels across the face crop: the generator sees the crop at
    IMAGE_SIZE pixels, so sampling a finer grid (a large face's photo pixels) adds points and time, not
    detail. On the generator's own grid it is :attr:`MeshSettings.grid_stride`."""
    base = mesh.grid_stride
    stride = max(base, math.ceil(base * crop_side_px / spec.IMAGE_SIZE))
    return mesh if stride == mesh.stride else replace(mesh, stride=stride)


def output_paths(out_dir: Path, stem: str, mesh_formats: Iterable[str], depth_formats: Iterable[str],
                 wireframe: bool = True, with_mesh: bool = True) -> list[Path]:
    """Every file :func:`save_outputs` would write, in writing order (an OBJ's material and texture with it)."""
    out_dir = Path(out_dir)
    mesh_formats, depth_formats = list(mesh_formats), list(depth_formats)
    for fmt in mesh_formats:
        if fmt not in export.MESH_OUTPUTS:
            raise ValueError(f"unknown mesh format {fmt!r} (choose from {', '.join(export.MESH_OUTPUTS)})")
    for fmt in depth_formats:
        if fmt not in export.DEPTH_FORMATS:
            raise ValueError(f"unknown depth format {fmt!r} (choose from {', '.join(export.DEPTH_FORMATS)})")
    paths = [out_dir / f"{stem}{DEPTH_FILE_SUFFIX[fmt]}" for fmt in depth_formats]
    if with_mesh:
        for fmt in mesh_formats:
            if fmt == export.SOLID_FORMAT:
                paths.append(out_dir / f"{stem}{export.SOLID_SUFFIX}")
                continue
            mesh_path = out_dir / f"{stem}.{fmt}"
            paths += [*export.mesh_companions(mesh_path), mesh_path]
        if wireframe:
            paths.append(out_dir / f"{stem}{WIREFRAME_SUFFIX}")
    return paths


def check_name_fits(target: Path) -> None:
    """Raises ValueError when ``target`` breaks the file system's limits on one name or a whole path
    (temporary names are shorter: see reconstruction.export.temp_path), so the work is not done in vain."""
    try:
        name_max = os.pathconf(target.parent, "PC_NAME_MAX")
        path_max = os.pathconf(target.parent, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    name = len(os.fsencode(target.name))
    if name > name_max:
        raise ValueError(f"output name {target.name[:40]}... is {name} bytes, more than the {name_max} the folder "
                         "allows; choose a shorter name")
    if len(os.fsencode(target.absolute())) >= path_max:
        raise ValueError(f"output path {target} is longer than the {path_max} bytes allowed; choose a shorter folder")


def save_outputs(result: PipelineResult, out_dir: Path, stem: str, mesh_formats: Iterable[str],
                 depth_formats: Iterable[str], overwrite: bool, wireframe: bool = True,
                 solid: SolidSettings | None = None) -> list[Path]:
    """Writes the depth files and (when a mesh was built) meshes, textures, the printable solid (format
    ``stl-solid``, sized by ``solid``) and wire frame; returns the paths.

    All-or-nothing for one photo: every target is checked before anything is written (an existing one
    raises OutputExistsError unless ``overwrite``); the whole set is written to temporary files first and
    only when all of them succeeded are they renamed onto the targets (:func:`facedepth.model.files.staged`,
    with signals held meanwhile). If anything fails
    (a full disk, a signal), the temporary files are removed and the old files, if any, stay as they were.
    """
    recon = result.reconstruction
    mesh_formats, depth_formats = list(mesh_formats), list(depth_formats)
    paths = output_paths(out_dir, stem, mesh_formats, depth_formats, wireframe, with_mesh=recon is not None)
    if not overwrite:
        for path in paths:
            if path.exists():
                raise export.OutputExistsError(path)
    for path in paths:
        if path.is_dir() and not path.is_symlink():  # never moved aside and deleted like a file
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    depth = result.prediction.depth_mm
    out_dir = Path(out_dir)
    with files.staged(guard=interrupts.deferred):
        for kind in depth_formats:
            export.save_depth(depth, out_dir / f"{stem}{DEPTH_FILE_SUFFIX[kind]}", kind, overwrite=overwrite)
        if recon is not None:
            for fmt in mesh_formats:
                if fmt == export.SOLID_FORMAT:
                    export.save_solid(solid_of(result.prediction, solid), out_dir / f"{stem}{export.SOLID_SUFFIX}",
                                      overwrite=overwrite)
                else:
                    export.save_mesh(recon.mesh, out_dir / f"{stem}.{fmt}", overwrite=overwrite,
                                     texture=recon.texture)
            if wireframe:
                export.save_wireframe(recon.wireframe, out_dir / f"{stem}{WIREFRAME_SUFFIX}", overwrite=overwrite)
    return paths
