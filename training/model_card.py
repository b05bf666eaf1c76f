"""Writes weights/MODEL_CARD.md from a training run, its export and an evaluation report."""

from __future__ import annotations

import json
import platform
from collections import Counter
from pathlib import Path

from facedepth.model.files import atomic_write_bytes
from facedepth.training import storage
from facedepth.training.evaluate_real_depth import markdown_table


def data_counts(data_dir: Path) -> dict[str, Counter]:
    return {split: Counter(r["kind"] for r in storage.read_index(Path(data_dir) / split)) for split in ("train", "val")}


def _eval_table(report: dict) -> str:
    rows = [
        "| held-out split | method | median RMSE (mm) | mean RMSE (mm) | median MAE (mm) "
        "| median RMSE, tilt forgiven (mm) | coverage | success |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, rep in report.items():
        for m, s in rep["methods"].items():
            if "median_rmse_mm" in s:
                rows.append(
                    f"| {kind} ({rep['samples']}) | {m} | {s['median_rmse_mm']:.2f} | {s['mean_rmse_mm']:.2f} | "
                    f"{s['median_mae_mm']:.2f} | {s['median_rmse_tilt_mm']:.2f} | {s['mean_coverage']:.1%} | "
                    f"{s['success_rate']:.1%} |"
                )
            else:
                rows.append(f"| {kind} ({rep['samples']}) | {m} | - | - | - | - | - | {s['success_rate']:.1%} |")
    return "\n".join(rows)


def _real_depth_section(report: dict | None) -> str:
    if report is None:
        return ""
    return f"""
## Real-depth evaluation (`facedepth-train evaluate --real-depth`)
Real faces with measured depth ({report["samples"]} samples; validation only, never trained on), scored
with the maintainers' protocol: median RMSE in mm after a per-face scale + shift, over all samples (failures
score the best constant) and per head pose; "tilt forgiven" also fits a plane.

{markdown_table(report)}
"""


def write_card(
    out: Path, weights: Path, sha256: str, run_dir: Path, data_dir: Path, eval_report: dict, notes: str = "",
    real_depth_report: dict | None = None,
) -> None:
    """``real_depth_report``: what :func:`facedepth.training.evaluate_real_depth.evaluate_methods` gives."""
    state = json.loads((Path(run_dir) / "state.json").read_text())
    config = json.loads((Path(run_dir) / "config.json").read_text())
    counts = data_counts(data_dir)
    hist = state["history"]
    speed = sum(h["img_per_s"] for h in hist) / max(len(hist), 1)
    size_mb = Path(weights).stat().st_size / 1e6
    images_seen = state["step"] * config["data"]["batch_size"]
    text = f"""# FaceDepth generator — model card

File: `{Path(weights).name}` ({size_mb:.1f} MB, LiteRT flatbuffer, fp16 weights)
sha256: {sha256}

## What it does
Predicts a depth code (see `model/spec.py`) for a 256x256 face crop made by `model/crop.py`: the nearest
face point at -0.9, relief in units of the crop side (gain {3.0}), background at +1. The app converts it to
millimetres under a nominal face size and camera distance.

## Architecture and recipe (the seed paper's pix2pix)
U-Net generator, ngf={config["ngf"]} ({"%.1f" % (config["ngf"] ** 2 * 13.29e-3)} M parameters), 70x70 PatchGAN
discriminator (ndf={config["ndf"]}); sigmoid cross-entropy GAN loss + {config["lambda_l1"]:.0f} x L1; Adam
lr {config["learning_rate"]} (discriminator x {config.get("d_lr_factor", 1.0)}), beta1 {config["beta_1"]};
batch {config["data"]["batch_size"]}; random jitter (resize 286, crop 256), mirroring, photometric jitter
(brightness, contrast, saturation, hue, grey, blur, JPEG, noise).
Real-photo share per batch: {config["data"]["real_fraction"]}.

## Data (made by `facedepth-train generate`; nothing of it is in this repository)
| split | real photos with pseudo ground truth | synthetic renders |
|---|---|---|
| train | {counts["train"].get("real", 0)} | {counts["train"].get("synthetic", 0)} |
| held out | {counts["val"].get("real", 0)} | {counts["val"].get("synthetic", 0)} |

* Real: UTKFace photos (../shared/data/faces/utkface), 68 dlib landmarks, Surrey Face Model fit (eos:
  shape + 6 expression blendshapes + pose), fitted depth rendered in the same crop. Held out by a hash of
  the file name (10 %).
* Synthetic: Surrey Face Model with random identity/expression, yaw up to ±65°, pitch ±25°, roll ±15°,
  perspective camera 350-1500 mm, ambient + directional + specular coloured light, skin textures extracted
  from training photos (held-out renders use textures and backgrounds of held-out photos only).

## Training
{state["epoch"]} epochs x {config["steps_per_epoch"]} steps ({state["step"]} steps, {images_seen}
images seen), {state["wall_seconds"] / 3600:.2f} h wall time on {platform.machine()} CPU (2 cores, shared with
development work), {speed:.1f} img/s on average. Best epoch by validation face MAE: {state["best_epoch"]}.

## Held-out evaluation (`facedepth-train evaluate`)
Depth error in mm inside the true face mask after a per-sample least-squares scale + shift; the "tilt
forgiven" column also fits a plane, which takes a global head-pose error out. The generator runs as the app
runs it: each crop magnified 286/256 times about its centre (the training scale), `generator_mirror` also
averaged with the mirrored photo's prediction.
"real" ground truth is itself a landmark fit (pseudo ground truth), so there the landmark fit scores
near zero by construction: compare the generator with the posed mean face there.

{_eval_table(eval_report)}
{_real_depth_section(real_depth_report)}
{notes}

## Licence
Trained from the Surrey Face Model (free for non-commercial use only) and UTKFace (non-commercial research
only): these weights are for **non-commercial use only**.
"""
    atomic_write_bytes(Path(out), text.encode())
