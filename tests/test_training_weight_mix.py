"""mix-weights: every kernel and bias of the exported mix lies on the line between the two generators'."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import keras  # noqa: E402

from facedepth.model.architecture import build_generator  # noqa: E402
from facedepth.model.inference import TFLiteDepthEstimator  # noqa: E402
from facedepth.training import cli  # noqa: E402
from facedepth.training.export import export_tflite  # noqa: E402
from facedepth.training.warm_start import conv_weights  # noqa: E402
from facedepth.training.weight_mix import generator_width  # noqa: E402


@pytest.fixture(scope="module")
def two_generators(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mix")
    paths = []
    for seed, ngf in ((1, 4), (2, 4), (3, 8)):
        keras.utils.set_random_seed(seed)
        path = folder / f"g{seed}.tflite"
        export_tflite(build_generator(ngf=ngf), path)
        paths.append(path)
    return paths


@pytest.mark.parametrize("share", [0.0, 0.25, -0.5])
def test_mix_lies_on_the_line_between_the_two(tmp_path, two_generators, share):
    base, other, _ = two_generators
    out = tmp_path / "mix.tflite"
    assert cli.main(["mix-weights", str(base), str(other), "--share", str(share), "--out", str(out),
                     "--model-id", "mix-test"]) == 0
    assert generator_width(out) == 4
    for (k, b), (k_base, b_base), (k_other, b_other) in zip(conv_weights(out), conv_weights(base),
                                                            conv_weights(other), strict=True):
        expected = (1 - share) * k_base + share * k_other
        np.testing.assert_allclose(k, expected, atol=2e-3 * max(1.0, float(np.abs(expected).max())))
        if b is not None:
            np.testing.assert_allclose(b, (1 - share) * b_base + share * b_other, atol=2e-3)
    assert TFLiteDepthEstimator(out).identity["model_id"] == "mix-test"  # stamped: the app takes it


def test_mix_refuses_generators_of_different_widths_and_missing_files(tmp_path, two_generators, capsys):
    base, _, wider = two_generators
    args = ["--share", "0.5", "--out", str(tmp_path / "mix.tflite"), "--model-id", "x"]
    assert cli.main(["mix-weights", str(base), str(wider), *args]) == 2
    assert "ngf=8" in capsys.readouterr().err
    assert cli.main(["mix-weights", str(base), str(tmp_path / "none.tflite"), *args]) == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "mix.tflite").exists()
