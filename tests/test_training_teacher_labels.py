"""``facedepth-train teacher-labels``: a data set's copy whose targets are a generator's output as the app runs it."""

from __future__ import annotations

import os

import numpy as np

from facedepth.model.inference import load_app_estimator
from facedepth.training import storage
from facedepth.training.cli import main


def _write_dataset(root, n=3):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        records = []
        for i in range(n):
            photo = rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)
            storage.write_sample(root / split, f"s{i}", photo, np.full((256, 256), -0.5, np.float32))
            records.append({"split": split, "name": f"s{i}", "kind": "real" if i % 2 else "synthetic",
                            "teacher": "eos"})
        storage.append_index(root / split, records)


def test_labels_are_the_generators_output_and_photos_are_linked(tmp_path, tiny_weights):
    source, out = tmp_path / "data", tmp_path / "labelled"
    _write_dataset(source)
    assert main(["teacher-labels", "--data", str(source), "--weights", str(tiny_weights), "--out", str(out),
                 "--workers", "1"]) == 0
    estimator = load_app_estimator(tiny_weights, quality="best")
    for split in ("train", "val"):
        records = {r["name"]: r for r in storage.read_index(out / split)}
        assert sorted(records) == ["s0", "s1", "s2"]
        assert records["s1"]["kind"] == "real" and records["s0"]["kind"] == "synthetic"
        assert records["s1"]["teacher"] == "test-generator-ngf8" and records["s1"]["target_was"] == "eos"
        for name in records:
            assert os.path.samefile(source / split / f"{name}.jpg", out / split / f"{name}.jpg")
            photo, code = storage.read_sample(out / split, name)
            expected = estimator(photo[None].astype(np.float32) / 127.5 - 1.0)[0, ..., 0]
            assert np.abs(code - expected).max() < 1e-4  # 16-bit PNG rounding
            _, source_code = storage.read_sample(source / split, name)
            assert np.allclose(source_code, -0.5, atol=1e-4)  # the source data set is left as it was
    # A rerun finds everything done and labels nothing twice.
    assert main(["teacher-labels", "--data", str(source), "--weights", str(tiny_weights), "--out", str(out),
                 "--workers", "1"]) == 0
    assert len(storage.read_index(out / "train")) == 3


def test_refuses_its_own_source_an_empty_set_and_bad_weights(tmp_path, tiny_weights, capsys):
    source = tmp_path / "data"
    _write_dataset(source)
    args = ["teacher-labels", "--data", str(source), "--weights", str(tiny_weights)]
    assert main([*args, "--out", str(source)]) == 2
    assert main(["teacher-labels", "--data", str(tmp_path / "empty"), "--weights", str(tiny_weights),
                 "--out", str(tmp_path / "x")]) == 2
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model")
    assert main(["teacher-labels", "--data", str(source), "--weights", str(bad), "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "another folder than --data" in err and "no training samples" in err and "bad.tflite" in err
