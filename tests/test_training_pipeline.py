"""Input pipeline (jitter + mirror move photo and depth together) and a two-step training smoke run."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402

from facedepth.model import depthcode  # noqa: E402
from facedepth.model.architecture import build_generator  # noqa: E402
from facedepth.training import storage  # noqa: E402
from facedepth.training.dataset import DataConfig, centre_zoom, load_pair, random_jitter, training_dataset  # noqa: E402

REAL_CODE, SYNTHETIC_CODE = -0.5, -0.25
"""The face code of _write_dataset's real and synthetic samples, which tells their kinds apart after
augmentation (jitter moves and resizes the depth but keeps its values; the photo's are changed)."""


def _write_dataset(root, n=6):
    """Tiny data set: a bright square on the photo exactly where the depth has a face."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        records = []
        for i in range(n):
            photo = np.zeros((256, 256, 3), np.uint8)
            code = np.ones((256, 256), np.float32)
            x, y = rng.integers(40, 120, 2)
            kind = "real" if i % 2 else "synthetic"
            photo[y: y + 90, x: x + 60] = 255
            code[y: y + 90, x: x + 60] = REAL_CODE if kind == "real" else SYNTHETIC_CODE
            name = f"s{i}"
            storage.write_sample(root / split, name, photo, code)
            records.append({"split": split, "name": name, "kind": kind, "crop_side_mm": 230.0})
        storage.append_index(root / split, records)


def test_load_pair_ranges(tmp_path):
    _write_dataset(tmp_path, 1)
    photo, depth = load_pair(tf.constant(str(tmp_path / "train" / "s0")))
    assert photo.shape == (256, 256, 3) and depth.shape == (256, 256, 1)
    assert float(tf.reduce_min(photo)) == pytest.approx(-1.0) and float(tf.reduce_max(photo)) == pytest.approx(1.0)
    assert set(np.unique(np.round(depth.numpy(), 3))) == {SYNTHETIC_CODE, 1.0}  # s0 is a synthetic sample


def test_jitter_and_mirror_keep_photo_and_depth_aligned():
    photo = np.full((256, 256, 3), -1.0, np.float32)
    depth = np.ones((256, 256, 1), np.float32)
    photo[50:120, 30:80] = 1.0  # an off-centre block so a mirror is visible
    depth[50:120, 30:80] = -0.5
    tf.random.set_seed(1)
    flipped = 0
    for _ in range(12):
        p, d = random_jitter(tf.constant(photo), tf.constant(depth))
        bright = p.numpy()[..., 0] > 0
        face = depthcode.face_mask(d.numpy()[..., 0])
        assert (bright == face).mean() > 0.995
        flipped += np.argwhere(face)[:, 1].mean() > 128
    assert 0 < flipped < 12, "mirroring should happen sometimes, not always"


def test_validation_zoom_is_the_view_inference_gives_the_generator():
    """Training validates on centre-zoomed crops; the app's AtTrainingScale must show the same pixels."""
    from facedepth.model.inference import AtTrainingScale

    rows, cols = np.mgrid[0:256, 0:256] / 256.0
    photo = np.stack([np.sin(7 * rows) * np.cos(5 * cols), rows - cols, rows * cols], axis=-1).astype(np.float32)
    depth = np.ones((256, 256, 1), np.float32)
    zoomed, _ = centre_zoom(tf.constant(photo), tf.constant(depth))

    class Spy:
        def __call__(self, photos):
            self.seen = photos[0]
            return np.ones((*photos.shape[:3], 1), np.float32)

    spy = Spy()
    AtTrainingScale(spy)(photo[None])
    assert np.abs(zoomed.numpy() - spy.seen).max() < 1e-3


@pytest.mark.parametrize("real_fraction", [0.0, 0.75, 1.0])
def test_training_dataset_mixes_kinds(tmp_path, real_fraction):
    _write_dataset(tmp_path)
    ds, counts = training_dataset(DataConfig(tmp_path, batch_size=4, real_fraction=real_fraction))
    assert counts == {"real": 3, "synthetic": 3}
    kinds = []
    for photo, depth in ds.take(16):
        assert photo.shape == (4, 256, 256, 3) and depth.shape == (4, 256, 256, 1)
        face = depth.numpy().reshape(4, -1).min(axis=1)
        kinds += list(np.abs(face - REAL_CODE) < np.abs(face - SYNTHETIC_CODE))
    share = np.mean(kinds)  # 64 draws: a binomial share of 0.75 lies within +-0.15 with p > 0.99
    assert share == real_fraction if real_fraction in (0.0, 1.0) else abs(share - real_fraction) < 0.15


def test_face_models_choose_the_synthetic_renders(tmp_path):
    """--face-models keeps renders of the named models only; real pairs and old records (no face_model:
    Surrey renders) follow the rule, and an unknown name is refused."""
    from facedepth.training.dataset import list_samples

    split = tmp_path / "train"
    storage.append_index(split, [{"name": "r0", "kind": "real"}, {"name": "syn0", "kind": "synthetic"},
                                 {"name": "syn1", "kind": "synthetic", "face_model": "surrey"},
                                 {"name": "ict0", "kind": "synthetic", "face_model": "ict"}])
    names = {m: [Path(s).name for s in list_samples(split, face_models=m)] for m in (("surrey",), ("ict",))}
    assert names == {("surrey",): ["r0", "syn0", "syn1"], ("ict",): ["r0", "ict0"]}
    assert [Path(s).name for s in list_samples(split, "synthetic", ("surrey", "ict"))] == ["syn0", "syn1", "ict0"]
    with pytest.raises(ValueError, match="bfm"):
        DataConfig(tmp_path, face_models=("bfm",))


class _Probe(keras.callbacks.Callback):
    """An extra per-epoch validation: writes a figure of its own and, running after fit's validation, replaces
    the face error by one that only grows, so that the first epoch stays the best."""

    def on_epoch_end(self, epoch, logs=None):
        logs["val_probe"] = logs["val_face_mae"] = float(epoch + 1)


def test_training_run_resume_early_stop_and_extra_validation(tmp_path, caplog):
    from facedepth.training.train import TrainConfig, load_averaged_generator, load_best_generator, train

    _write_dataset(tmp_path / "data")
    cfg = TrainConfig(DataConfig(tmp_path / "data", batch_size=2), tmp_path / "run", ngf=4, ndf=8, epochs=2,
                      steps_per_epoch=2, val_limit=4, max_minutes=1e-9, patience=2)
    state = train(cfg, extra_callbacks=[_Probe()])
    # The time budget stopped it after one epoch of two.
    assert state.step == 2 and state.epoch == 1 and np.isfinite(state.history[0]["g_l1"])
    assert {"g_total", "g_gan", "g_l1", "d_loss", "val_l1", "val_face_mae", "val_mask_iou", "val_probe",
            "img_per_s"} <= set(state.history[0])
    with pytest.raises(FileExistsError):
        train(cfg)
    cfg2 = TrainConfig(cfg.data, cfg.run_dir, ngf=4, ndf=8, epochs=5, steps_per_epoch=2, val_limit=4,
                       learning_rate=5e-5, d_lr_factor=0.5, patience=2)
    with caplog.at_level(logging.INFO, logger="facedepth.training"):
        state = train(cfg2, resume=True, extra_callbacks=[_Probe()])
    # Early stop counts on from the first invocation: epochs 2 and 3 were not better than epoch 1.
    assert state.step == 6 and state.epoch == 3 and state.best_epoch == 1 and state.best_val == 1.0
    assert [h["epoch"] for h in state.history] == [1, 2, 3] == [h["val_probe"] for h in state.history]
    assert "learning rate 5e-05 (discriminator 2.5e-05)" in caplog.text  # the resumed run uses the new rates
    assert "early stop: no improvement for 2 epochs" in caplog.text
    assert tf.train.latest_checkpoint(str(cfg.run_dir / "best")).endswith("ckpt-1")
    generator = load_best_generator(cfg.run_dir, ngf=4)
    out = generator(np.zeros((1, 256, 256, 3), np.float32), training=False)
    assert out.shape == (1, 256, 256, 1)

    kept = []
    for path in tf.train.get_checkpoint_state(str(cfg.run_dir / "ckpt")).all_model_checkpoint_paths[-2:]:
        g = build_generator(4)
        tf.train.Checkpoint(generator=g).restore(path).expect_partial()
        kept.append(g.get_weights())
    assert any(not np.array_equal(a, b) for a, b in zip(*kept, strict=True))
    averaged = load_averaged_generator(cfg.run_dir, ngf=4, last=2).get_weights()
    for a, b, mean in zip(*kept, averaged, strict=True):
        np.testing.assert_allclose(mean, (a + b) / 2, rtol=1e-6, atol=1e-7)
    with pytest.raises(FileNotFoundError):
        load_averaged_generator(cfg.run_dir, ngf=4, last=4)


def test_validation_metrics_weigh_every_face_pixel_alike():
    """fit's validation: face error over all face pixels of all batches, L1 and IoU averaged per image."""
    from facedepth.training.pix2pix import Pix2Pix

    photo_in = keras.Input((256, 256, 3))
    constant = keras.Model(photo_in, keras.layers.Lambda(lambda x: x[..., :1] * 0.0)(photo_in))  # predicts 0
    model = Pix2Pix(constant, constant)
    model.compile(keras.optimizers.Adam(), keras.optimizers.Adam())
    targets = np.ones((3, 256, 256, 1), np.float32)
    targets[0, :100, :100] = -0.5  # 10000 face pixels, error 0.5
    targets[1, :10, :10] = 0.5  # 100 face pixels, 50 with error 0.5 ...
    targets[1, :5, :10] = -0.9  # ... and 50 with error 0.9; image 2 has none
    photos = np.zeros((3, 256, 256, 3), np.float32)
    logs = model.evaluate(tf.data.Dataset.from_tensor_slices((photos, targets)).batch(2), verbose=0,
                          return_dict=True)
    face = targets < 0.9
    assert logs["face_mae"] == pytest.approx(np.abs(targets[face]).mean(), rel=1e-5)
    assert logs["l1"] == pytest.approx(np.abs(targets).mean(axis=(1, 2, 3)).mean(), rel=1e-5)
    # The prediction 0 is face everywhere: IoU = face pixels / all pixels, per image.
    assert logs["mask_iou"] == pytest.approx((face.sum(axis=(1, 2, 3)) / 256**2).mean(), rel=1e-5)


def test_l1_only_training_leaves_the_discriminator_alone():
    """gan_weight 0: the generator learns its L1 target; the discriminator is not trained (nor run)."""
    from facedepth.model.architecture import build_discriminator
    from facedepth.training.pix2pix import Pix2Pix

    generator, discriminator = build_generator(4), build_discriminator(8)
    model = Pix2Pix(generator, discriminator, gan_weight=0.0)
    model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    d_before = [w.copy() for w in discriminator.get_weights()]
    photos = np.zeros((2, 256, 256, 3), np.float32)
    targets = np.full((2, 256, 256, 1), -0.5, np.float32)
    data = tf.data.Dataset.from_tensor_slices((photos, targets)).batch(2).repeat()
    history = model.fit(data, epochs=3, steps_per_epoch=5, verbose=0).history
    assert history["g_l1"][-1] < history["g_l1"][0]
    assert history["g_gan"] == [0.0] * 3 and history["d_loss"] == [0.0] * 3
    assert all(np.array_equal(a, b) for a, b in zip(d_before, discriminator.get_weights(), strict=True))


def test_shape_term_is_trained_and_reported_in_both_kinds_of_step():
    """gradient_weight > 0: the generator's step reports the shape term and lowers it, with and without the GAN."""
    from facedepth.model.architecture import build_discriminator
    from facedepth.training.pix2pix import Pix2Pix

    photos = np.zeros((2, 256, 256, 3), np.float32)
    targets = np.full((2, 256, 256, 1), 1.0, np.float32)
    targets[:, 64:192, 64:192, 0] = np.linspace(-0.8, 0.4, 128)[None, :]  # a face with a slope
    data = tf.data.Dataset.from_tensor_slices((photos, targets)).batch(2).repeat()
    for gan_weight in (1.0, 0.0):
        keras.utils.set_random_seed(0)
        model = Pix2Pix(build_generator(4), build_discriminator(8), gan_weight=gan_weight, gradient_weight=1.0)
        model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
        history = model.fit(data, epochs=3, steps_per_epoch=5, verbose=0).history
        assert all(g > 0 for g in history["g_grad"])
        assert history["g_total"][-1] < history["g_total"][0]


def test_precision_choice(tmp_path):
    from facedepth.training.precision import cpu_has_native_bfloat16, resolve_precision

    plain, native = tmp_path / "plain", tmp_path / "native"
    plain.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f\n")
    native.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert not cpu_has_native_bfloat16(plain) and cpu_has_native_bfloat16(native)
    assert not cpu_has_native_bfloat16(tmp_path / "missing")
    assert resolve_precision("auto", plain) == "float32"
    assert resolve_precision("auto", native) == ("float32" if tf.config.list_physical_devices("GPU")
                                                 else "mixed_bfloat16")
    assert resolve_precision("float32", native) == "float32"
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("float16")


def test_mixed_precision_model_keeps_float32_outputs_and_checkpoints(tmp_path):
    """bfloat16 compute, float32 weights and output layers: the losses are float32 and a mixed run's
    checkpoint restores into the float32 generator that export builds."""
    from facedepth.training.train import TrainConfig, build_model

    cfg = TrainConfig(DataConfig(Path("unused")), Path("unused"), ngf=4, ndf=8, precision="mixed_bfloat16")
    model = build_model(cfg)
    assert model.generator.get_layer("down2").layers[0].compute_dtype == "bfloat16"
    photo, target = tf.zeros((1, 256, 256, 3)), tf.ones((1, 256, 256, 1))
    logs = model.train_step((photo, target))
    assert all(v.dtype == tf.float32 and np.isfinite(float(v)) for v in logs.values())
    assert model.generator(photo).dtype == tf.float32
    assert {w.dtype for w in model.generator.weights} == {"float32"}
    path = tf.train.Checkpoint(generator=model.generator).save(str(tmp_path / "g"))
    plain = build_generator(4)
    tf.train.Checkpoint(generator=plain).restore(path).assert_existing_objects_matched()
    for a, b in zip(plain.get_weights(), model.generator.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_export_command_refuses_bad_requests(tmp_path, capsys):
    from facedepth.training import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["export", "--run-dir", str(tmp_path), "--average", "1"])
    assert exit_info.value.code == 2
    assert cli.main(["export", "--run-dir", str(tmp_path / "missing"), "--average", "3"]) == 1
    assert "config.json not found" in capsys.readouterr().err  # --ngf comes from the run's configuration
    assert cli.main(["export", "--run-dir", str(tmp_path / "missing"), "--average", "3", "--ngf", "4"]) == 1
    assert "fewer than the 3 to average" in capsys.readouterr().err


def test_training_validates_on_real_depth_each_epoch_and_can_select_by_it(tmp_path):
    from real_depth_set import set_with_the_sample_face

    from facedepth.model.resources import sample_image
    from facedepth.training.train import TrainConfig, train

    _write_dataset(tmp_path / "data")
    set_with_the_sample_face(tmp_path / "real", sample_image())
    cfg = TrainConfig(DataConfig(tmp_path / "data", batch_size=2), tmp_path / "run", ngf=4, ndf=8, epochs=1,
                      steps_per_epoch=1, val_limit=2, real_depth=tmp_path / "real", select_by="real_rmse")
    state = train(cfg)
    metrics = state.history[0]
    assert {"real_rmse", "real_rmse_tilt", "real_failures"} <= set(metrics)
    assert state.best_val == metrics["real_rmse"] and state.best_epoch == 1


def test_selecting_by_real_depth_needs_a_real_depth_set(tmp_path):
    from facedepth.training.train_config import TrainConfig

    with pytest.raises(ValueError, match="needs a real-depth set"):
        TrainConfig(DataConfig(tmp_path), tmp_path / "run", select_by="real_rmse")


def test_export_takes_the_generator_width_from_the_run(tmp_path):
    from facedepth.training import cli

    (tmp_path / "config.json").write_text('{"ngf": 48, "ndf": 32}')
    assert cli.run_config(tmp_path)["ngf"] == 48
