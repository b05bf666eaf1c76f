"""Warm start: a generator rebuilt from its fp16 .tflite computes what the export computes, and fine-tunes."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import keras  # noqa: E402

from facedepth.model.architecture import build_generator  # noqa: E402
from facedepth.model.inference import TFLiteDepthEstimator  # noqa: E402
from facedepth.training.export import export_tflite  # noqa: E402
from facedepth.training.warm_start import generator_from_tflite  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(3)
    generator = build_generator(ngf=4)
    # batch-norm statistics that are not the identity, so that folding them matters
    photos = np.random.default_rng(0).uniform(-1, 1, (4, 256, 256, 3)).astype(np.float32)
    for _ in range(3):
        generator(photos, training=True)
    for layer in generator.layers:
        for norm in getattr(layer, "layers", []):
            if isinstance(norm, keras.layers.BatchNormalization):
                norm.moving_mean.assign(np.random.default_rng(1).normal(0, 0.1, norm.moving_mean.shape))
                norm.moving_variance.assign(np.random.default_rng(2).uniform(0.5, 2, norm.moving_variance.shape))
    path = tmp_path_factory.mktemp("warm") / "generator.tflite"
    export_tflite(generator, path, fp16=True)
    return generator, path, photos


def test_rebuilt_generator_matches_the_export(exported):
    _, path, photos = exported
    rebuilt = generator_from_tflite(path, ngf=4)
    lite = TFLiteDepthEstimator(path)
    for photo in photos[:2]:
        diff = np.abs(np.asarray(rebuilt(photo[None], training=False)) - lite(photo[None])).max()
        assert diff < 1e-4


def test_rebuilt_batch_norms_are_frozen_and_kernels_train(exported):
    _, path, _ = exported
    rebuilt = generator_from_tflite(path, ngf=4)
    names = [v.path for v in rebuilt.trainable_variables]
    assert names and not any("batch_normalization" in n for n in names)
    assert any("kernel" in n for n in names)


def test_a_wrong_width_is_refused(exported):
    _, path, _ = exported
    with pytest.raises(ValueError, match="ngf"):
        generator_from_tflite(path, ngf=8)
