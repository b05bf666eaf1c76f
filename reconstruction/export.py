"""Writing meshes, wire frames and depth maps, always atomically.

Geometry is written in the export frame of :mod:`facedepth.reconstruction.camera` (x right, y up, z towards the
viewer, millimetres). Each file goes through :func:`facedepth.model.files.atomic_write`, so a target is
either untouched or complete.
"""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import numpy as np
import open3d as o3d
import trimesh
from PIL import Image

from facedepth.model.depthcode import valid_depth
from facedepth.model.files import OutputExistsError, atomic_write, atomic_write_all
from facedepth.reconstruction.camera import EXPORT_ROTATION
from facedepth.reconstruction.colormap import turbo
from facedepth.reconstruction.settings import DEPTH_FORMATS, MESH_FORMATS, MESH_OUTPUTS, SOLID_FORMAT, SOLID_SUFFIX
from facedepth.reconstruction.texture import PhotoTexture

DEPTH_SUFFIX = {"png16": ".png", "npy": ".npy", "color": ".png"}
OBJ_MATERIAL_SUFFIX = ".mtl"
TEXTURE_SUFFIX = "_texture.png"
"""A textured ``<stem>.obj`` comes with ``<stem>.mtl`` (its material) and ``<stem>_texture.png`` (the image)."""
PNG16_STEPS_PER_MM = 10.0
"""png16 stores depth in 0.1 mm steps, 0 = no depth, so at most 6553.5 mm."""


__all__ = ["DEPTH_FORMATS", "MESH_FORMATS", "MESH_OUTPUTS", "SOLID_FORMAT", "SOLID_SUFFIX", "OutputExistsError",
           "atomic_write", "colorize_depth", "save_depth", "save_mesh", "save_solid", "save_wireframe"]


def _check(ok: bool, path: Path) -> None:
    """Open3D's writers report failure by returning False, without a reason; a full disk is the usual one."""
    if not ok:
        if _disk_full(path.parent):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        raise OSError(f"could not write {path}")


def _disk_full(folder: Path) -> bool:
    try:
        info = os.statvfs(folder)
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < 1 << 20


def _suffix(path: Path, allowed: tuple[str, ...], what: str) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in allowed:
        raise ValueError(f"{what} file {path} must end in one of: {', '.join('.' + s for s in allowed)}")
    return suffix


def to_export_frame(geometry):
    """A rotated copy (camera frame -> export frame) of a TriangleMesh, LineSet or PointCloud."""
    copy = type(geometry)(geometry)
    copy.rotate(EXPORT_ROTATION, center=np.zeros(3))
    return copy


def to_trimesh(mesh: o3d.geometry.TriangleMesh, uv: np.ndarray | None = None,
               texture: PhotoTexture | None = None) -> trimesh.Trimesh:
    """Open3D mesh (already in the export frame) -> trimesh mesh: textured when ``uv`` and ``texture`` are
    given (a PBR material with the image as base colour, as glTF wants), else with 8-bit vertex colours."""
    visual = None
    if texture is not None and uv is not None:
        material = trimesh.visual.material.PBRMaterial(name="face", baseColorTexture=texture.pil_image(),
                                                       metallicFactor=0.0, roughnessFactor=1.0)
        visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    colors = None
    if visual is None and mesh.has_vertex_colors():
        colors = np.round(np.asarray(mesh.vertex_colors) * 255).clip(0, 255).astype(np.uint8)
    return trimesh.Trimesh(
        vertices=np.asarray(mesh.vertices),
        faces=np.asarray(mesh.triangles),
        vertex_normals=np.asarray(mesh.vertex_normals) if mesh.has_vertex_normals() else None,
        vertex_colors=colors,
        visual=visual,
        process=False,
    )


def mesh_companions(path: Path) -> list[Path]:
    """The files written beside a mesh: an OBJ's material library and texture image; nothing for the others."""
    path = Path(path)
    if path.suffix.lower() != ".obj":
        return []
    return [path.with_suffix(OBJ_MATERIAL_SUFFIX), path.with_name(f"{path.stem}{TEXTURE_SUFFIX}")]


def save_mesh(mesh: o3d.geometry.TriangleMesh, path: Path, overwrite: bool = False,
              texture: PhotoTexture | None = None) -> Path:
    """Write a mesh (the suffix picks the format); returns its path (:func:`mesh_companions` names the rest).

    With ``texture`` (see :mod:`facedepth.reconstruction.texture`), OBJ is written with texture coordinates
    and a material (``<stem>.mtl`` naming ``<stem>_texture.png``, both written too) and GLB with the image
    embedded as its base colour; PLY keeps vertex colours (few PLY readers take textures) and STL has
    neither. Without one, PLY, OBJ and GLB carry vertex colours. The files are written all-or-nothing.
    """
    fmt = _suffix(path, MESH_FORMATS, "mesh")
    if len(mesh.triangles) == 0:
        raise ValueError("the mesh is empty; nothing to write")
    uv = texture.uv(np.asarray(mesh.vertices)) if texture is not None and fmt in ("obj", "glb") else None
    exported = to_export_frame(mesh)
    if not exported.has_vertex_normals():
        exported.compute_vertex_normals()

    if fmt == "ply":
        return atomic_write(path, lambda temp: _check(o3d.io.write_triangle_mesh(
            str(temp), exported, write_vertex_colors=True), temp), overwrite)
    if fmt == "obj" and uv is not None:
        material, image = mesh_companions(path)
        obj_text = _obj_text(exported, uv, material.name)
        mtl_text = _mtl_text(image.name)
        atomic_write_all([
            (image, lambda temp: texture.pil_image().save(temp, format="PNG")),
            (material, lambda temp: temp.write_text(mtl_text, encoding="ascii")),
            (Path(path), lambda temp: temp.write_text(obj_text, encoding="ascii")),
        ], overwrite)
        return Path(path)
    data = _as_bytes(to_trimesh(exported, uv, texture).export(file_type=fmt))
    return atomic_write(path, lambda temp: temp.write_bytes(data), overwrite)


def save_solid(solid: trimesh.Trimesh, path: Path, overwrite: bool = False) -> Path:
    """Write a printable solid as binary STL (millimetres, z up from the flat back)."""
    _suffix(path, ("stl",), "solid")
    data = _as_bytes(solid.export(file_type="stl"))
    return atomic_write(path, lambda temp: temp.write_bytes(data), overwrite)


def _obj_text(mesh: o3d.geometry.TriangleMesh, uv: np.ndarray, material_file: str) -> str:
    """Wavefront OBJ with positions, texture coordinates and normals sharing one index per vertex."""
    faces = np.repeat(np.asarray(mesh.triangles, dtype=np.int64) + 1, 3, axis=1)
    return "".join([
        f"# FaceDepth face mesh: mm, x right, y up, z towards the viewer\nmtllib {material_file}\n",
        _lines("v %.5f %.5f %.5f\n", np.asarray(mesh.vertices)),
        _lines("vt %.7f %.7f\n", uv),
        _lines("vn %.5f %.5f %.5f\n", np.asarray(mesh.vertex_normals)),
        "usemtl face\n",
        _lines("f %d/%d/%d %d/%d/%d %d/%d/%d\n", faces),
    ])


def _lines(line_format: str, rows: np.ndarray) -> str:
    """One formatted line per row, in a single %-formatting pass (several times faster than np.savetxt)."""
    return (line_format * len(rows)) % tuple(rows.ravel().tolist())


def _mtl_text(image_file: str) -> str:
    return (f"# FaceDepth face material\nnewmtl face\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nd 1\nillum 1\n"
            f"map_Kd {image_file}\n")


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def save_wireframe(lineset: o3d.geometry.LineSet, path: Path, overwrite: bool = False) -> Path:
    """Write the wire frame as a binary PLY with ``vertex`` (x, y, z, red, green, blue) and ``edge``
    (vertex1, vertex2) elements, which MeshLab, Blender, Open3D and trimesh all read.

    Colours go on the vertices (viewers blend them along each edge): trimesh cannot parse edges that
    carry their own colour properties. A vertex takes the mean colour of the lines that meet there.
    """
    _suffix(path, ("ply",), "wire frame")
    exported = to_export_frame(lineset)
    points = np.asarray(exported.points)
    lines = np.asarray(exported.lines)
    vertices = np.zeros(len(points), dtype=[("xyz", "<f4", 3), ("rgb", "u1", 3)])
    vertices["xyz"] = points
    if exported.has_colors():
        sums = np.zeros((len(points), 3))
        counts = np.zeros(len(points))
        for end in (0, 1):
            np.add.at(sums, lines[:, end], np.asarray(exported.colors))
            np.add.at(counts, lines[:, end], 1)
        vertices["rgb"] = np.round(255 * sums / np.maximum(counts, 1)[:, None]).clip(0, 255)
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment FaceDepth wire frame, mm, x right y up z to viewer\n"
        f"element vertex {len(points)}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        f"element edge {len(lines)}\nproperty int vertex1\nproperty int vertex2\nend_header\n"
    )

    def write(temp: Path) -> None:
        with open(temp, "wb") as handle:
            handle.write(header.encode("ascii"))
            handle.write(vertices.tobytes())
            handle.write(lines.astype("<i4").tobytes())

    return atomic_write(path, write, overwrite)


def colorize_depth(depth_mm: np.ndarray) -> np.ndarray:
    """(H, W) depth -> (H, W, 3) uint8 RGB: nearest red through yellow/green to farthest blue, black = none."""
    valid = valid_depth(depth_mm)
    out = np.zeros((*depth_mm.shape, 3), dtype=np.uint8)
    if not valid.any():
        return out
    values = depth_mm[valid].astype(np.float64)
    near, far = values.min(), values.max()
    closeness = 1.0 - (values - near) / max(far - near, 1e-6)
    out[valid] = turbo(closeness)  # Turbo: 0 = dark blue (far), 1 = dark red (near)
    return out


def save_depth(depth_mm: np.ndarray, path: Path, kind: str, overwrite: bool = False) -> Path:
    """Write a depth map as ``png16`` (uint16, mm x 10, 0 = none), ``npy`` (float32 mm, NaN = none) or
    ``color`` (RGB colour map, near = warm, black = none)."""
    if kind not in DEPTH_FORMATS:
        raise ValueError(f"depth format must be one of {', '.join(DEPTH_FORMATS)}, got {kind!r}")
    if Path(path).suffix.lower() != DEPTH_SUFFIX[kind]:
        raise ValueError(f"{kind} depth file {path} must end in {DEPTH_SUFFIX[kind]}")
    depth = np.asarray(depth_mm, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f"depth must be a 2-D array (H, W), got shape {depth.shape}")
    valid = valid_depth(depth)

    if kind == "npy":
        clean = np.where(valid, depth, np.float32(np.nan)).astype(np.float32)

        def write(temp: Path) -> None:
            buffer = io.BytesIO()  # np.save to a file reports a full disk as "N requested and M written"
            np.save(buffer, clean)
            temp.write_bytes(buffer.getvalue())

    elif kind == "png16":
        steps = np.where(valid, np.round(depth.astype(np.float64) * PNG16_STEPS_PER_MM), 0)
        if steps.max(initial=0) > np.iinfo(np.uint16).max:
            raise ValueError("depth beyond 6553.5 mm cannot be stored as png16; use npy")
        image = steps.astype(np.uint16)

        def write(temp: Path) -> None:
            Image.fromarray(image).save(temp, format="PNG")

    else:
        colored = colorize_depth(depth)

        def write(temp: Path) -> None:
            Image.fromarray(colored).save(temp, format="PNG")

    return atomic_write(path, write, overwrite)
