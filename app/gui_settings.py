"""The GUI's processing settings: defaults, conversion to pipeline settings, and storage in Kivy's config.

The values live in the ``[processing]`` section of the app's ini file (``<user_data_dir>/facedepth.ini``, see
:meth:`facedepth.app.gui.FaceDepthApp.get_application_config`), so they survive restarts. No Kivy import here: the
functions take any ``ConfigParser``-like object with ``get``/``set``/``write``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

from facedepth.model import resources
from facedepth.reconstruction.settings import MESH_MODES, MeshSettings

if TYPE_CHECKING:
    from facedepth.app.pipeline import PipelineSettings

SECTION = "processing"
POISSON_DEPTH_RANGE = (5, 10)
"""The window's Poisson depth slider (facedepth.kv): the useful part of MeshSettings' range, 4-12."""
TRIM_RANGE = (0.0, 0.3)
"""The trimming slider: the quantile of lowest-density Poisson vertices removed."""


@dataclass(frozen=True)
class GuiSettings:
    quality: str = resources.DEFAULT_QUALITY
    mesh_mode: str = MeshSettings.mode
    poisson_depth: int = MeshSettings.poisson_depth
    trim_quantile: float = MeshSettings.trim_quantile
    detect_face: bool = True

    def pipeline_settings(self, detect: bool | None = None) -> PipelineSettings:
        """The pipeline settings these stand for; ``detect`` overrides face detection for one run."""
        from facedepth.app.pipeline import PipelineSettings  # Open3D and friends: only in the processing engine

        mesh = MeshSettings(mode=self.mesh_mode, poisson_depth=self.poisson_depth, trim_quantile=self.trim_quantile)
        return PipelineSettings(detect=self.detect_face if detect is None else detect, mesh=mesh, quality=self.quality)


def defaults() -> dict[str, dict[str, str]]:
    """``{section: {key: text}}`` for ``App.build_config``."""
    return {SECTION: {key: _to_text(value) for key, value in asdict(GuiSettings()).items()}}


def read(config) -> GuiSettings:
    """The stored settings; a value that is missing or out of range falls back to its default."""
    base = GuiSettings()
    values = {}
    for f in fields(GuiSettings):
        default = getattr(base, f.name)
        try:
            text = config.get(SECTION, f.name)
            values[f.name] = _parse(text, default)
        except Exception:  # a hand-edited or damaged ini must not stop the app
            values[f.name] = default
    return GuiSettings(
        quality=values["quality"] if values["quality"] in resources.QUALITIES else base.quality,
        mesh_mode=values["mesh_mode"] if values["mesh_mode"] in MESH_MODES else base.mesh_mode,
        poisson_depth=int(min(max(values["poisson_depth"], POISSON_DEPTH_RANGE[0]), POISSON_DEPTH_RANGE[1])),
        trim_quantile=float(min(max(values["trim_quantile"], TRIM_RANGE[0]), TRIM_RANGE[1])),
        detect_face=values["detect_face"],
    )


def write(config, settings: GuiSettings) -> None:
    """Stores ``settings`` and writes the ini file."""
    for key, value in asdict(settings).items():
        config.set(SECTION, key, _to_text(value))
    config.write()


def _to_text(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _parse(text: str, default):
    if isinstance(default, bool):
        return text.strip().lower() in ("1", "true", "yes", "on")
    return type(default)(text)
