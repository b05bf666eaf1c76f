"""dlib's HOG detector scanned by two threads finds what one call finds."""

import os
import select
import signal
from pathlib import Path

import dlib
import numpy as np
import pytest
from PIL import Image

from facedepth.model import hog
from facedepth.model.face import FaceDetector
from facedepth.model.imageio import load_photo

ASSETS = Path(__file__).resolve().parents[1] / "assets"


@pytest.fixture(scope="module")
def split() -> hog.SplitPyramidDetector:
    detector = hog.SplitPyramidDetector(dlib)
    assert detector.fine is not None, "dlib's serialised detector no longer has the layout the split reads"
    return detector


def _photos(face_photo: Path) -> list[np.ndarray]:
    sample = load_photo(face_photo)
    large = np.asarray(Image.fromarray(sample).resize((1000, 1000), Image.Resampling.BICUBIC))  # a 170 px face
    return [sample, large, load_photo(ASSETS / "two_faces.jpg")]


def test_the_split_scan_equals_one_call(split, face_photo):
    for photo in _photos(face_photo):
        whole = sorted(hog._boxes(*split.whole.run(photo, 0, -0.5)[:2]), key=lambda found: -found[1])
        both = split.run(photo, 0, -0.5)  # a low threshold: many detections, overlapping ones to suppress
        assert len(both) == len(whole) >= 2
        for (box, score), (expected_box, expected_score) in zip(both, whole, strict=True):
            assert score == pytest.approx(expected_score, abs=1e-9)
            assert box == expected_box


def test_the_fine_copy_scans_only_the_first_levels(split, face_photo):
    large = _photos(face_photo)[1]  # its face needs the pyramid's coarser levels
    assert split.whole.run(large, 0, 0.0)[0] and not split.fine.run(large, 0, 0.0)[0]


def test_upsampled_scans_run_whole(split, face_photo):
    small = np.asarray(Image.fromarray(load_photo(face_photo)).resize((300, 300), Image.Resampling.BICUBIC))
    assert split.run(small, 1, 0.0) == hog._boxes(*split.whole.run(small, 1, 0.0)[:2])


def test_suppression_keeps_the_best_of_overlapping_boxes_as_dlib_does():
    overlaps = hog.OverlapTest(match=0.33, covered=0.79)
    best, shifted, chained, apart = (0, 0, 99, 99), (30, 0, 129, 99), (60, 0, 159, 99), (300, 300, 379, 379)
    assert overlaps(best, shifted) and not overlaps(best, chained) and overlaps(shifted, chained)
    kept = hog.suppressed([(shifted, 0.9), (apart, 0.1), (best, 1.5), (chained, 0.5)], overlaps)
    # ``shifted`` goes under ``best``; ``chained`` stays, as it overlaps only a box that was not kept
    assert kept == [(best, 1.5), (chained, 0.5), (apart, 0.1)]
    assert overlaps((0, 0, 99, 99), (10, 10, 59, 59))  # a box covered by another is the same detection


class _Unknown:
    """A detector whose serialised form is not dlib 19-20's."""

    detection_window_width = detection_window_height = 80
    num_detectors = 5

    def save(self, path: str) -> None:
        Path(path).write_bytes(b"\x01\x03" + bytes(40))


def test_an_unknown_serialised_layout_is_not_split():
    assert hog.fine_levels_copy(dlib, _Unknown(), 2) is None


def test_dlib_integers_round_trip():
    for value in (0, 1, 80, 1000, -54, 2**40):
        data = hog._int_bytes(value) + b"rest"
        assert hog._read_int(data, 0) == (value, len(data) - 4)


def test_a_box_found_on_a_coarse_level_maps_to_the_image_as_dlib_maps_it():
    on_level, levels = (40.0, 17.0, 111.0, 88.0), 3  # 72 px wide on its own level, 3 levels below the split
    mapped_to_split = tuple(hog._rounded(hog._point_up(v, levels)) for v in on_level)
    expected = tuple(hog._rounded(hog._point_up(v, hog.SPLIT_LEVEL + levels)) for v in on_level)
    assert hog._image_box(mapped_to_split, window=80) == expected


def test_one_thread_scans_whole(face_photo):
    detector = FaceDetector(threads=1)
    _, scanner, _ = detector._dlib
    assert scanner.fine is None
    assert detector.largest(load_photo(face_photo)) is not None


def test_a_forked_child_detects_with_its_own_helper(split, face_photo):
    photo = load_photo(face_photo)
    expected = split.run(photo, 0, 0.0)  # the parent's helper thread has run
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(writer, repr(split.run(photo, 0, 0.0)).encode())
        os._exit(0)
    os.close(writer)
    answered = select.select([reader], [], [], 60)[0]
    if not answered:
        os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    with os.fdopen(reader) as report:
        assert answered and report.read() == repr(expected)
