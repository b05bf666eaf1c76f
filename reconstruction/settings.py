"""The reconstruction's settings, their defaults and their ranges, in one place (no Open3D import here, so
the window's process can read them)."""

from __future__ import annotations

from dataclasses import dataclass

MESH_MODES = ("poisson", "grid")
POISSON_DEPTH_RANGE = (4, 12)
"""Octree depths :class:`MeshSettings` accepts (inclusive)."""
MESH_FORMATS = ("ply", "obj", "stl", "glb")
"""Mesh files :mod:`facedepth.reconstruction.export` writes (the suffix picks the format)."""
SOLID_FORMAT = "stl-solid"
"""The printable solid (:mod:`facedepth.reconstruction.solid`), written as ``<stem>`` + ``SOLID_SUFFIX``."""
SOLID_SUFFIX = "_solid.stl"
MESH_OUTPUTS = (*MESH_FORMATS, SOLID_FORMAT)
"""What a list of mesh outputs may name: the mesh formats and the printable solid."""
DEPTH_FORMATS = ("png16", "npy", "color")
"""Depth files :mod:`facedepth.reconstruction.export` writes: 16-bit PNG, float32 .npy, colour map."""
FINE_POISSON_DEPTH = 8
"""From this Poisson depth on the octree cell matches a one-pixel spacing of the generator's grid (a face
500 mm away), so the depth map is sampled at every pixel (stride 1) instead of every ``stride``-th."""


@dataclass(frozen=True)
class MeshSettings:
    """Every tunable of the reconstruction, with the defaults used by the CLI, the GUI and the functions
    of :mod:`facedepth.reconstruction.pointcloud` and :mod:`facedepth.reconstruction.surface`."""

    mode: str = "grid"
    """"grid": a heightfield on the depth samples, smoothed (:attr:`grid_smoothing`); "poisson": screened
    Poisson surface trimmed to the face, which closes holes in the depth. The grid is the default because
    ``bench/mesh.py`` finds it as smooth as Poisson, closer to the depth and far cheaper (figures in the
    README's "Why the grid is the default")."""
    poisson_depth: int = 7
    """Octree depth; the Poisson solve costs roughly 2x per level. Past the depth whose cell matches the
    sample spacing (7 at stride 2, 8 at stride 1 for a face 500 mm away) it adds time, not detail."""
    grid_smoothing: int = 5
    """Grid mode: Taubin smoothing passes (0 = none), which take out the generator's pixel-level noise
    without shrinking the face; fewer leave it crumpled, more move it away from the depth for little more
    smoothness (``bench/mesh.py`` compares 0, 2, 5 and 10)."""
    trim_quantile: float = 0.05
    """Poisson: drop this fraction of vertices with the lowest sample density (surface invented far
    from the data) before the geometric trimming."""
    outlier_std: float = 2.0
    """Drop points whose mean neighbour distance exceeds the average by this many standard deviations."""
    stride: int = 2
    """Use every stride-th row and column of the generator's 256 x 256 grid (2: a quarter of the points, about
    4x faster); on a photo where the face is larger, the stride grows to match (see :attr:`grid_stride`)."""
    outlier_neighbors: int = 20
    normal_radius_mm: float = 5.0
    """Neighbourhood for normal estimation (up to 30 points): a few sample spacings on a face."""
    grid_max_slope: float = 10.0
    """Grid mode: a quad is left out where depth changes by more than this many times its pixel
    footprint (tan 84 degrees), so no skin is stretched across a depth discontinuity."""
    n_threads: int = -1
    """Poisson worker threads; -1 = all cores."""

    @property
    def grid_stride(self) -> int:
        """The stride on the generator's grid: 1 in Poisson mode from :data:`FINE_POISSON_DEPTH`, else ``stride``."""
        return 1 if self.mode == "poisson" and self.poisson_depth >= FINE_POISSON_DEPTH else self.stride

    def __post_init__(self) -> None:
        if self.mode not in MESH_MODES:
            raise ValueError(f"mesh mode must be one of {', '.join(MESH_MODES)}, got {self.mode!r}")
        low, high = POISSON_DEPTH_RANGE
        if not low <= self.poisson_depth <= high:
            raise ValueError(f"Poisson depth must be between {low} and {high}, got {self.poisson_depth}")
        if not 0.0 <= self.trim_quantile < 1.0:
            raise ValueError(f"trim quantile must be in [0, 1), got {self.trim_quantile}")
        if self.grid_smoothing < 0:
            raise ValueError(f"grid smoothing must be >= 0 passes, got {self.grid_smoothing}")
        if self.stride < 1:
            raise ValueError(f"stride must be >= 1, got {self.stride}")
        if self.outlier_std <= 0 or self.outlier_neighbors < 1:
            raise ValueError("outlier removal needs outlier_std > 0 and outlier_neighbors >= 1")


@dataclass(frozen=True)
class SolidSettings:
    """The printable solid's size (:mod:`facedepth.reconstruction.solid`), with the CLI's and the app's defaults."""

    width_mm: float = 60.0
    """Width of the face across, in millimetres."""
    base_mm: float = 3.0
    """Material behind the face's deepest point: the flat back's thickness."""

    def __post_init__(self) -> None:
        if not 5.0 <= self.width_mm <= 1000.0:
            raise ValueError(f"solid width must be between 5 and 1000 mm, got {self.width_mm:g}")
        if not 0.5 <= self.base_mm <= 100.0:
            raise ValueError(f"solid base must be between 0.5 and 100 mm, got {self.base_mm:g}")
