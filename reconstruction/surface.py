"""Point cloud -> surface: screened Poisson reconstruction (trimmed to the face) or a fast heightfield mesh.

Poisson closes every surface, so on a one-sided face scan it adds a balloon behind and around the data.
:func:`trim_poisson` removes it in three steps: low-density vertices (Open3D's per-vertex density, the
``trim_quantile`` lowest), everything outside the data's bounding box, then vertices farther than a
couple of sample spacings from any input point. Colours come from the nearest input point and only the
largest connected piece is kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import open3d as o3d

from facedepth.model.depthcode import valid_depth
from facedepth.model.progress import Progress, Stage
from facedepth.reconstruction.camera import PinholeCamera
from facedepth.reconstruction.pointcloud import check_inputs, depth_to_point_cloud, estimate_normals, remove_outliers
from facedepth.reconstruction.settings import MeshSettings
from facedepth.reconstruction.texture import PhotoTexture, photo_texture

log = logging.getLogger(__name__)

MIN_FACE_POINTS = 100
"""Fewer valid samples than this cannot make a face mesh."""

WIREFRAME_COLOR = (0.1, 0.55, 0.95)
"""Line colour for meshes without vertex colours."""


@dataclass
class Reconstruction:
    point_cloud: o3d.geometry.PointCloud
    mesh: o3d.geometry.TriangleMesh
    wireframe: o3d.geometry.LineSet
    texture: PhotoTexture | None = None
    """The mesh's texture, cut from the photo it was coloured from."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per stage, keyed by the stage names passed to ``progress``."""


def poisson_surface(
    pcd: o3d.geometry.PointCloud, depth: int, n_threads: int = MeshSettings.n_threads
) -> tuple[o3d.geometry.TriangleMesh, np.ndarray]:
    """Untrimmed screened Poisson surface and its per-vertex sample density (needs normals)."""
    if not pcd.has_normals():
        raise ValueError("Poisson reconstruction needs a point cloud with normals")
    with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
        mesh, densities = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(
            pcd, depth=depth, n_threads=n_threads
        )
    return mesh, np.asarray(densities)


def _sample_spacing(nns: o3d.core.nns.NearestNeighborSearch, points: np.ndarray, samples: int = 1000) -> float:
    """Median distance from a point to its nearest other point, from an evenly spread subset."""
    subset = points[:: max(1, len(points) // samples)]
    _, d2 = nns.knn_search(o3d.core.Tensor(subset.astype(np.float32)), 2)
    return float(np.median(np.sqrt(d2.numpy()[:, 1])))


def trim_poisson(
    mesh: o3d.geometry.TriangleMesh,
    densities: np.ndarray,
    trim_quantile: float,
    reference: o3d.geometry.PointCloud,
    poisson_depth: int,
) -> o3d.geometry.TriangleMesh:
    """Cut a raw Poisson mesh back to the region covered by ``reference`` and colour it from there."""
    if trim_quantile > 0:
        mesh.remove_vertices_by_mask(densities < np.quantile(densities, trim_quantile))

    ref = np.asarray(reference.points)
    nns = o3d.core.nns.NearestNeighborSearch(o3d.core.Tensor(ref.astype(np.float32)))
    nns.knn_index()
    lo, hi = ref.min(axis=0), ref.max(axis=0)
    # Poisson's octree spans the data's extent x 1.1 (Open3D's default scale); its cell is the resolution.
    cell = 1.1 * float((hi - lo).max()) / 2**poisson_depth
    max_distance = 2.0 * max(cell, _sample_spacing(nns, ref))

    mesh = mesh.crop(o3d.geometry.AxisAlignedBoundingBox(lo - max_distance, hi + max_distance))
    vertices = np.asarray(mesh.vertices)
    if len(vertices) == 0 or len(mesh.triangles) == 0:
        raise ValueError("too few face points left after trimming the Poisson surface")
    index, d2 = nns.knn_search(o3d.core.Tensor(vertices.astype(np.float32)), 1)
    index, distance = index.numpy()[:, 0], np.sqrt(d2.numpy()[:, 0])
    if reference.has_colors():
        mesh.vertex_colors = o3d.utility.Vector3dVector(np.asarray(reference.colors)[index])
    mesh.remove_vertices_by_mask(distance > max_distance)
    return clean_mesh(mesh)


def vertex_components(triangles: np.ndarray, n_vertices: int) -> np.ndarray:
    """Connected-component label of every vertex (vertices joined by triangle edges share a label).

    Hook-and-compress union-find in numpy: each round points every component root at the smallest root
    it touches, then flattens the pointers; rounds grow roughly logarithmically with the mesh size.
    Open3D's cluster_connected_triangles does the same job about 20 times slower.
    """
    a = triangles.ravel()
    b = np.roll(triangles, -1, axis=1).ravel()
    parent = np.arange(n_vertices)
    while True:
        pa, pb = parent[a], parent[b]
        differ = pa != pb
        if not differ.any():
            return parent
        np.minimum.at(parent, np.maximum(pa, pb)[differ], np.minimum(pa, pb)[differ])
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped


def clean_mesh(mesh: o3d.geometry.TriangleMesh) -> o3d.geometry.TriangleMesh:
    """Drop degenerate/duplicate triangles and loose vertices, keep the largest connected piece."""
    mesh.remove_degenerate_triangles()
    mesh.remove_duplicated_triangles()
    mesh.remove_duplicated_vertices()
    triangles = np.asarray(mesh.triangles)
    if len(triangles) > 0:
        labels = vertex_components(triangles, len(mesh.vertices))[triangles[:, 0]]
        values, counts = np.unique(labels, return_counts=True)
        if len(values) > 1:
            mesh.remove_triangles_by_mask(labels != values[np.argmax(counts)])
    mesh.remove_unreferenced_vertices()
    if len(mesh.triangles) == 0:
        raise ValueError("too few face points: the surface is empty after clean-up")
    mesh.compute_vertex_normals()
    return mesh


def color_from_photo(mesh: o3d.geometry.TriangleMesh, rgb: np.ndarray, camera: PinholeCamera) -> None:
    """Colour each vertex (in place) with the photo pixel it projects to, at full image resolution."""
    u, v = camera.project(np.asarray(mesh.vertices))
    cols = np.clip(np.round(u), 0, camera.width - 1).astype(np.int64)
    rows = np.clip(np.round(v), 0, camera.height - 1).astype(np.int64)
    mesh.vertex_colors = o3d.utility.Vector3dVector(rgb[rows, cols].astype(np.float64) / 255.0)


def grid_mesh(
    depth_mm: np.ndarray,
    rgb: np.ndarray,
    camera: PinholeCamera,
    stride: int = 1,
    max_slope: float = MeshSettings.grid_max_slope,
    smoothing: int = MeshSettings.grid_smoothing,
) -> o3d.geometry.TriangleMesh:
    """Heightfield mesh: a vertex per valid pixel (every ``stride``-th), two triangles per valid quad, then
    ``smoothing`` passes of Taubin smoothing (:attr:`MeshSettings.grid_smoothing`).

    A quad is used when its four corners have depth and its depth range stays below ``max_slope`` times
    its pixel footprint at that depth. Triangles are wound so that normals face the camera.
    """
    check_inputs(depth_mm, rgb, camera, stride)
    depth = depth_mm[::stride, ::stride]
    valid = valid_depth(depth)
    rows, cols = depth.shape
    index = np.full(depth.shape, -1, dtype=np.int64)
    v, u = np.nonzero(valid)
    index[v, u] = np.arange(len(v))

    z = np.where(valid, depth, np.nan)
    corners = np.stack([z[:-1, :-1], z[:-1, 1:], z[1:, :-1], z[1:, 1:]])
    with np.errstate(invalid="ignore"):
        near, far = corners.min(axis=0), corners.max(axis=0)
        footprint = near * stride / min(camera.fx, camera.fy)
        quad = np.all(np.isfinite(corners), axis=0) & (far - near <= max_slope * footprint)
    qv, qu = np.nonzero(quad)
    i00, i01 = index[qv, qu], index[qv, qu + 1]
    i10, i11 = index[qv + 1, qu], index[qv + 1, qu + 1]
    # Image x (u) and y (v) point along camera +x and +y, so (down, right) ordering faces -z.
    triangles = np.concatenate([np.stack([i00, i10, i01], 1), np.stack([i01, i10, i11], 1)])

    mesh = o3d.geometry.TriangleMesh()
    mesh.vertices = o3d.utility.Vector3dVector(camera.backproject(u * stride, v * stride, depth[v, u]))
    mesh.triangles = o3d.utility.Vector3iVector(triangles.astype(np.int32))
    mesh.vertex_colors = o3d.utility.Vector3dVector(rgb[v * stride, u * stride].astype(np.float64) / 255.0)
    mesh.remove_unreferenced_vertices()
    if smoothing:
        mesh = mesh.filter_smooth_taubin(number_of_iterations=smoothing, filter_scope=o3d.geometry.FilterScope.Vertex)
    mesh.compute_vertex_normals()
    return mesh


def wireframe(mesh: o3d.geometry.TriangleMesh, color: tuple[float, float, float] | None = None) -> o3d.geometry.LineSet:
    """The mesh's unique edges; each line takes the mean colour of its ends (or ``color``)."""
    triangles = np.asarray(mesh.triangles)
    ends = np.stack([triangles.ravel(), np.roll(triangles, -1, axis=1).ravel()], axis=1).astype(np.int64)
    ends.sort(axis=1)
    keys = np.unique(ends[:, 0] * len(mesh.vertices) + ends[:, 1])  # one integer per undirected edge
    edges = np.stack(np.divmod(keys, len(mesh.vertices)), axis=1)
    lines = o3d.geometry.LineSet()
    lines.points = o3d.utility.Vector3dVector(np.asarray(mesh.vertices))
    lines.lines = o3d.utility.Vector2iVector(edges.astype(np.int32))
    if color is None and mesh.has_vertex_colors():
        colors = np.asarray(mesh.vertex_colors)
        line_colors = 0.5 * (colors[edges[:, 0]] + colors[edges[:, 1]])
    else:
        line_colors = np.tile(np.asarray(color or WIREFRAME_COLOR, dtype=np.float64), (len(edges), 1))
    lines.colors = o3d.utility.Vector3dVector(line_colors)
    return lines


def reconstruct(
    depth_mm: np.ndarray,
    rgb: np.ndarray,
    camera: PinholeCamera,
    settings: MeshSettings | None = None,
    progress: Progress | None = None,
    photo: tuple[np.ndarray, PinholeCamera] | None = None,
) -> Reconstruction:
    """Depth map + photo -> point cloud, mesh, texture and wire frame, reporting each stage to ``progress``
    (which raises Cancelled between stages once the job is cancelled).

    ``photo`` is the full-resolution photo and its camera, when the depth map lies on another grid (the
    generator's crop, for small faces): the mesh's colours and texture come from it. By default they come
    from ``rgb`` and ``camera``. Stages: POINT_CLOUD, NORMALS, POISSON_SURFACE, TRIMMING, WIREFRAME in Poisson
    mode; POINT_CLOUD, GRID_MESH, TRIMMING, WIREFRAME in grid mode (a heightfield needs no normals).
    """
    settings = settings or MeshSettings()
    timings: dict[str, float] = {}
    stage = progress or Progress()
    photo_rgb, photo_camera = photo if photo is not None else (rgb, camera)
    photo_camera.check_image(photo_rgb.shape)

    with stage.timed(Stage.POINT_CLOUD, timings):
        pcd = depth_to_point_cloud(depth_mm, rgb, camera, settings.stride)
        if len(pcd.points) >= MIN_FACE_POINTS:
            pcd = remove_outliers(pcd, settings.outlier_neighbors, settings.outlier_std)
        if len(pcd.points) < MIN_FACE_POINTS:
            raise ValueError(f"too few face points: {len(pcd.points)} usable depth samples, need {MIN_FACE_POINTS}")
    if settings.mode == "poisson":
        with stage.timed(Stage.NORMALS, timings):
            estimate_normals(pcd, settings.normal_radius_mm)
        with stage.timed(Stage.POISSON_SURFACE, timings):
            mesh, densities = poisson_surface(pcd, settings.poisson_depth, settings.n_threads)
    else:
        with stage.timed(Stage.GRID_MESH, timings):
            mesh = grid_mesh(depth_mm, rgb, camera, settings.stride, settings.grid_max_slope, settings.grid_smoothing)
    with stage.timed(Stage.TRIMMING, timings):
        if settings.mode == "poisson":
            mesh = trim_poisson(mesh, densities, settings.trim_quantile, pcd, settings.poisson_depth)
        else:
            mesh = clean_mesh(mesh)
        # the cloud may be strided or on the crop grid; the photo is neither
        color_from_photo(mesh, photo_rgb, photo_camera)
        texture = photo_texture(photo_rgb, photo_camera, np.asarray(mesh.vertices))
    with stage.timed(Stage.WIREFRAME, timings):
        lines = wireframe(mesh)
    log.debug("reconstruction timings: %s", ", ".join(f"{name} {s:.3f} s" for name, s in timings.items()))
    return Reconstruction(point_cloud=pcd, mesh=mesh, wireframe=lines, texture=texture, timings=timings)
