"""tf.data input pipeline over generated (or imported) pairs: the seed's jitter and mirroring plus
photometric augmentation so that real photos look like training photos.

All augmentation that moves pixels (resize to 286, random 256 crop, mirror) is applied to photo and depth
together; colour, blur and JPEG noise touch the photo only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import tensorflow as tf

from facedepth.model import spec
from facedepth.training import storage
from facedepth.training.train_config import DataConfig

logger = logging.getLogger(__name__)


def list_samples(split_dir: Path, kind: str | None = None, face_models: tuple[str, ...] | None = None) -> list[str]:
    """File stems of a split, optionally of one kind ("real" or "synthetic") and, for synthetic renders, of
    some face models only (records written before the ICT model was added are Surrey renders)."""
    return [str(split_dir / r["name"]) for r in storage.read_index(split_dir)
            if (kind is None or r["kind"] == kind)
            and (face_models is None or r["kind"] != "synthetic" or r.get("face_model", "surrey") in face_models)]


def load_pair(stem: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """stem -> (photo float32 [-1, 1] (256, 256, 3), depth code float32 (256, 256, 1))."""
    photo = tf.io.decode_jpeg(tf.io.read_file(stem + ".jpg"), channels=3)
    stored = tf.io.decode_png(tf.io.read_file(stem + "_depth.png"), dtype=tf.uint16)
    photo = tf.cast(photo, tf.float32) / 127.5 - 1.0
    depth = tf.cast(stored, tf.float32) / 32767.5 - 1.0
    return photo, depth


def _magnified(photo: tf.Tensor, depth: tf.Tensor) -> tf.Tensor:
    """Photo and depth stacked (4 channels) and resized to JITTER_SIZE together."""
    return tf.image.resize(tf.concat([photo, depth], axis=-1), [spec.JITTER_SIZE, spec.JITTER_SIZE],
                           method="bilinear")


def random_jitter(photo: tf.Tensor, depth: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The seed's augmentation: resize to 286, random crop back to 256, random mirror (both images)."""
    both = tf.image.random_crop(_magnified(photo, depth), [spec.IMAGE_SIZE, spec.IMAGE_SIZE, 4])
    both = tf.cond(tf.random.uniform(()) < 0.5, lambda: tf.image.flip_left_right(both), lambda: both)
    return both[..., :3], both[..., 3:]


def centre_zoom(photo: tf.Tensor, depth: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The mean view of :func:`random_jitter`: resize to 286, the central 256 window, no mirror. Validation
    sees held-out pairs so, as inference does (:class:`facedepth.model.inference.AtTrainingScale`)."""
    offset = (spec.JITTER_SIZE - spec.IMAGE_SIZE) // 2
    both = _magnified(photo, depth)[offset:offset + spec.IMAGE_SIZE, offset:offset + spec.IMAGE_SIZE]
    return both[..., :3], both[..., 3:]


def photometric(photo: tf.Tensor) -> tf.Tensor:
    """Colour, contrast, blur, grey-scale and JPEG re-encoding noise on a [-1, 1] photo."""
    img = (photo + 1.0) / 2.0
    img = tf.image.random_brightness(img, 0.15)
    img = tf.image.random_contrast(img, 0.7, 1.3)
    img = tf.image.random_saturation(img, 0.6, 1.4)
    img = tf.image.random_hue(img, 0.04)
    img = tf.cond(tf.random.uniform(()) < 0.1, lambda: tf.tile(tf.image.rgb_to_grayscale(img), [1, 1, 3]),
                  lambda: img)
    img = tf.cond(tf.random.uniform(()) < 0.3, lambda: _blur(img, tf.random.uniform((), 0.5, 1.8)), lambda: img)
    img = tf.clip_by_value(img, 0.0, 1.0)
    img = tf.cond(tf.random.uniform(()) < 0.5,
                  lambda: tf.image.random_jpeg_quality(img, 30, 95), lambda: img)
    img = img + tf.random.normal(tf.shape(img), stddev=tf.random.uniform((), 0.0, 0.02))
    return tf.clip_by_value(img, 0.0, 1.0) * 2.0 - 1.0


def _blur(img: tf.Tensor, sigma: tf.Tensor) -> tf.Tensor:
    x = tf.range(-3, 4, dtype=tf.float32)
    k = tf.exp(-(x**2) / (2 * sigma**2))
    k = k / tf.reduce_sum(k)
    kh = tf.tile(tf.reshape(k, [1, 7, 1, 1]), [1, 1, 3, 1])
    kv = tf.tile(tf.reshape(k, [7, 1, 1, 1]), [1, 1, 3, 1])
    out = tf.nn.depthwise_conv2d(img[None], kh, [1, 1, 1, 1], "SAME")
    return tf.nn.depthwise_conv2d(out, kv, [1, 1, 1, 1], "SAME")[0]


def _augment(photo, depth):
    photo, depth = random_jitter(photo, depth)
    return photometric(photo), depth


def _stems_dataset(stems: list[str], cfg: DataConfig) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices(stems)
    return ds.shuffle(min(len(stems), cfg.shuffle_buffer), seed=cfg.seed, reshuffle_each_iteration=True).repeat()


def training_dataset(cfg: DataConfig) -> tuple[tf.data.Dataset, dict[str, int]]:
    """An endless, shuffled, augmented, batched mix of real and synthetic training pairs."""
    split = Path(cfg.data_dir) / "train"
    real, synthetic = list_samples(split, "real"), list_samples(split, "synthetic", cfg.face_models)
    counts = {"real": len(real), "synthetic": len(synthetic)}
    if not real and not synthetic:
        raise FileNotFoundError(f"no training samples in {split} (run `facedepth-train generate` first)")
    parts, weights = [], []
    for stems, w in ((real, cfg.real_fraction), (synthetic, 1.0 - cfg.real_fraction)):
        if stems and w > 0:
            parts.append(_stems_dataset(stems, cfg))
            weights.append(w)
    ds = parts[0] if len(parts) == 1 else tf.data.Dataset.sample_from_datasets(parts, weights, seed=cfg.seed)
    ds = ds.map(load_pair, num_parallel_calls=tf.data.AUTOTUNE).map(_augment, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(cfg.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE), counts


def validation_dataset(data_dir: Path, batch_size: int = 8, kind: str | None = None,
                       limit: int | None = None) -> tf.data.Dataset:
    """Held-out pairs at the training scale (:func:`centre_zoom`), without augmentation; with ``limit`` and no
    ``kind``, an even share of each kind."""
    split = Path(data_dir) / "val"
    if kind is None and limit:
        kinds = sorted({r["kind"] for r in storage.read_index(split)})
        stems = [s for k in kinds for s in list_samples(split, k)[: max(limit // len(kinds), 1)]]
    else:
        stems = list_samples(split, kind)[:limit]
    if not stems:
        raise FileNotFoundError(f"no validation samples in {split}")
    ds = tf.data.Dataset.from_tensor_slices(stems).map(load_pair, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.map(centre_zoom, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE)
