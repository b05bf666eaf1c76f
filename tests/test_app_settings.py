"""GUI settings: stored in an ini section, read back, damaged values fall back to defaults (no Kivy)."""

from __future__ import annotations

import configparser

import pytest

from facedepth.app import gui_settings
from facedepth.app.gui_settings import GuiSettings


class IniConfig(configparser.ConfigParser):
    """The part of Kivy's ConfigParser that gui_settings uses: get/set and write() to its own file."""

    def __init__(self, path) -> None:
        super().__init__()
        self.path = path
        self.read_dict(gui_settings.defaults())
        self.read(path)

    def write(self, *_args) -> None:  # Kivy's write() takes no file
        with open(self.path, "w") as handle:
            super().write(handle)


def test_settings_survive_a_restart(tmp_path):
    ini = tmp_path / "facedepth.ini"
    chosen = GuiSettings(quality="best", mesh_mode="grid", poisson_depth=9, trim_quantile=0.12, detect_face=False)
    gui_settings.write(IniConfig(ini), chosen)
    assert gui_settings.read(IniConfig(ini)) == chosen


def test_defaults_when_nothing_stored(tmp_path):
    assert gui_settings.read(IniConfig(tmp_path / "none.ini")) == GuiSettings()


@pytest.mark.parametrize(("key", "text"), [("mesh_mode", "marching-cubes"), ("poisson_depth", "seven"),
                                           ("trim_quantile", ""), ("quality", "ultra")])
def test_damaged_values_fall_back_to_defaults(tmp_path, key, text):
    ini = tmp_path / "facedepth.ini"
    config = IniConfig(ini)
    config.set(gui_settings.SECTION, key, text)
    assert getattr(gui_settings.read(config), key) == getattr(GuiSettings(), key)


def test_out_of_range_values_are_clamped(tmp_path):
    config = IniConfig(tmp_path / "facedepth.ini")
    config.set(gui_settings.SECTION, "poisson_depth", "15")
    config.set(gui_settings.SECTION, "trim_quantile", "-1")
    settings = gui_settings.read(config)
    assert settings.poisson_depth == gui_settings.POISSON_DEPTH_RANGE[1]
    assert settings.trim_quantile == gui_settings.TRIM_RANGE[0]


def test_pipeline_settings_follow_the_gui_and_the_one_off_detect_override():
    settings = GuiSettings(quality="best", mesh_mode="grid", poisson_depth=6, trim_quantile=0.1, detect_face=True)
    pipeline = settings.pipeline_settings()
    assert pipeline.detect is True and pipeline.quality == "best"
    assert (pipeline.mesh.mode, pipeline.mesh.poisson_depth, pipeline.mesh.trim_quantile) == ("grid", 6, 0.1)
    assert settings.pipeline_settings(detect=False).detect is False


def test_the_window_offers_only_depths_the_reconstruction_accepts():
    from facedepth.reconstruction.settings import POISSON_DEPTH_RANGE

    low, high = gui_settings.POISSON_DEPTH_RANGE
    assert POISSON_DEPTH_RANGE[0] <= low < high <= POISSON_DEPTH_RANGE[1]
    assert GuiSettings().pipeline_settings().mesh.poisson_depth in range(low, high + 1)
