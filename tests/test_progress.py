"""Stages, the progress/cancel helper and the engine's messages (all picklable, no Open3D or Kivy)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from facedepth.app import messages as msg
from facedepth.app.gui_settings import GuiSettings
from facedepth.model.progress import Cancelled, Progress, Stage


def test_stages_read_as_their_names_and_climb_to_done():
    assert Stage.POISSON_SURFACE == "poisson surface" and f"{Stage.NORMALS}" == str(Stage.NORMALS) == "normals"
    assert Stage.WIREFRAME.label == "Wire frame"
    order = [Stage.LOADING, Stage.DETECTING_FACE, Stage.ESTIMATING_DEPTH, Stage.POINT_CLOUD, Stage.NORMALS,
             Stage.POISSON_SURFACE, Stage.TRIMMING, Stage.WIREFRAME, Stage.PREPARING_VIEW, Stage.DONE]
    fractions = [stage.fraction for stage in order]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(stage.label for stage in Stage)


def test_progress_reports_until_cancelled_and_times_blocks():
    seen, stop = [], []
    progress = Progress(lambda stage, fraction: seen.append((stage, fraction)), cancelled=lambda: bool(stop))
    timings: dict[str, float] = {}
    with progress.timed(Stage.NORMALS, timings):
        stop.append(True)
    assert seen == [(Stage.NORMALS, Stage.NORMALS.fraction)] and list(timings) == ["normals"]
    with pytest.raises(Cancelled, match="before trimming"):
        progress(Stage.TRIMMING)
    assert len(seen) == 1
    Progress()(Stage.DONE)  # nothing to report to, never cancelled


@pytest.mark.parametrize("message", [
    msg.Process(3, Path("/photos/a.jpg"), GuiSettings(), detect=False),
    msg.Save(4, msg.SaveRequest(Path("/out"), "a", ("ply",), ("npy",), True, False, np.zeros((2, 2, 3), np.uint8))),
    msg.StageStarted(3, Stage.GRID_MESH, 0.5),
    msg.Failed(3, ValueError("too few face points")),
    msg.SaveExists(4, [Path("/out/a.ply")]),
])
def test_messages_survive_the_pipe(message):
    copy = pickle.loads(pickle.dumps(message))
    assert type(copy) is type(message)
    if isinstance(message, msg.StageStarted):
        assert copy == message and copy.stage is Stage.GRID_MESH


def test_save_request_names_the_view_picture_only_when_it_has_one():
    request = msg.SaveRequest(Path("/out"), "face", ("ply",), (), False, False)
    assert request.view_path() is None
    assert msg.SaveRequest(Path("/out"), "face", (), (), False, False,
                           np.zeros((1, 1, 3), np.uint8)).view_path() == Path("/out/face_view.png")
