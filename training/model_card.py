"""``facedepth-train card``: writes weights/MODEL_CARD.md from a training run, its export and an evaluation
report. Every fact on the card comes from those or from the code that made them (the depth code's
constants, the render ranges, the split), so the card cannot drift from what was trained.

One card describes every generator in its folder: ``--add-to`` puts a generator's part into an existing card,
in place of an earlier part for the same file (the app checks a file against every sha256 and model id
the card lists).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
from collections import Counter
from pathlib import Path

from facedepth.model import spec
from facedepth.model.files import atomic_write_bytes
from facedepth.model.inference import file_sha256
from facedepth.model.losses import GRADIENT_STEPS
from facedepth.training import storage
from facedepth.training.evaluate_real_depth import markdown_table
from facedepth.training.splits import VAL_FRACTION
from facedepth.training.synthetic import SyntheticConfig

SELECTED_BY = {"val_face_mae": "validation face MAE", "real_rmse": "real-depth median RMSE"}
"""How the run picked its best epoch (TrainConfig.select_by), in words."""


def data_counts(data_dir: Path) -> dict[str, Counter]:
    return {split: Counter(r["kind"] for r in storage.read_index(Path(data_dir) / split)) for split in ("train", "val")}


FACE_MODEL_SOURCES = {
    "surrey": "the Surrey Face Model (University of Surrey, via the eos project's share/ files: free for "
              "non-commercial use only)",
    "ict": "the ICT Face Model (USC Institute for Creative Technologies, ICT-FaceKit: MIT licence)",
}


def teacher_of(data_dir: Path) -> str | None:
    """The generator whose output every training target is (a data set made by ``teacher-labels``), or None."""
    teachers = {r.get("teacher") for r in storage.read_index(Path(data_dir) / "train")}
    return teachers.pop() if len(teachers) == 1 and None not in teachers else None


def face_model_counts(data_dir: Path, trained_on: list[str] | None = None) -> Counter:
    """Synthetic training renders per face model (records without the field are Surrey renders), of the
    face models ``trained_on`` only when given (the run's ``--face-models``)."""
    found = Counter(r.get("face_model", "surrey") for r in storage.read_index(Path(data_dir) / "train")
                    if r["kind"] == "synthetic")
    return found if trained_on is None else Counter({m: n for m, n in found.items() if m in trained_on})


def render_pitch_range(data_dir: Path) -> float:
    """The head pitch range (+- degrees, whole) of the training renders as their records give it;
    :class:`SyntheticConfig`'s when there are none (``generate synthetic --pitch-deg``)."""
    pitches = [abs(r["pitch"]) for r in storage.read_index(Path(data_dir) / "train")
               if r["kind"] == "synthetic" and "pitch" in r]
    return float(round(max(pitches))) if pitches else SyntheticConfig.pitch_deg


def licence_section(face_models: Counter, real_photos: int, parent: str | None = None,
                    teacher: str | None = None) -> str:
    """Which face models and photo sets the weights were trained from (``parent``: the generator a fine-tune
    started from; ``teacher``: the generator whose output the targets are; the weights carry their data too),
    and the licence that follows."""
    used = [m for m in FACE_MODEL_SOURCES if face_models.get(m)]
    targets = f"the depth of `{teacher}`" if teacher else "Surrey Face Model pseudo ground truth"
    lines = ["Trained from: " + "; ".join(
        [f"{face_models[m]} renders of {FACE_MODEL_SOURCES[m]}" for m in used]
        + [f"{real_photos} UTKFace photos with {targets}" if real_photos else ""]
    ).strip("; ") + "."]
    if parent:
        lines.append(f"Fine-tuned from `{parent}`: whatever that generator was trained from is in these weights too.")
    if teacher:
        lines.append(f"Distilled from `{teacher}`: whatever that generator was trained from is in these weights too.")
    if used:
        lines.append("Every render wears skin textures extracted from UTKFace photos (non-commercial research "
                     "only) with the Surrey Face Model" + ("; ICT renders wear them mapped into the ICT UV layout."
                                                           if "ict" in used else "."))
    lines.append("While the Surrey Face Model and UTKFace are in the mix these weights are for **non-commercial "
                 "use only**" + ("; the ICT Face Model's MIT licence adds no restriction." if "ict" in used else "."))
    return "\n".join(lines)


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


def weight_precision(weights: Path) -> str:
    """"fp16" when the .tflite stores float16 weights (dequantised at load), else "fp32"."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(weights))
    dtypes = {detail["dtype"].__name__ for detail in interpreter.get_tensor_details()}
    return "fp16" if "float16" in dtypes else "fp32"


def _model_id_line(weights: Path) -> str:
    """``\nModel id: <id>`` for a generator stamped with its FaceDepth identity (the app checks the two agree)."""
    from facedepth.model import identity

    try:
        found = identity.read(weights.read_bytes())
    except (OSError, identity.IdentityError):
        found = None
    return f"\nModel id: {found['model_id']}" if isinstance(found, dict) and "model_id" in found else ""


def write_card(
    out: Path, weights: Path, sha256: str, run_dir: Path, data_dir: Path, eval_report: dict, notes: str = "",
    real_depth_report: dict | None = None, precision: str | None = None, add_to: bool = False,
) -> None:
    """The card for ``weights``. ``real_depth_report``: what
    :func:`facedepth.training.evaluate_real_depth.evaluate_methods` gives; ``precision``: "fp16"/"fp32", read
    from the file when not given; ``add_to``: put it into the card already at ``out`` (:func:`merged_card`)."""
    state = json.loads((Path(run_dir) / "state.json").read_text())
    config = json.loads((Path(run_dir) / "config.json").read_text())
    counts = data_counts(data_dir)
    models = face_model_counts(data_dir, config["data"].get("face_models"))
    if config["data"]["real_fraction"] == 0:  # in the data set, but never in a batch
        counts["train"]["real"] = 0
    hist = state["history"]
    speed = sum(h["img_per_s"] for h in hist) / max(len(hist), 1)
    size_mb = Path(weights).stat().st_size / 1e6
    images_seen = state["step"] * config["data"]["batch_size"]
    precision = precision or weight_precision(weights)
    poses = SyntheticConfig()
    near, far = poses.distance_mm
    teacher = teacher_of(data_dir)
    text = f"""# FaceDepth {"fast generator (distilled)" if teacher else "generator"} — model card

File: `{Path(weights).name}` ({size_mb:.1f} MB, LiteRT flatbuffer, {precision} weights)
sha256: {sha256}{_model_id_line(Path(weights))}

## What it does
Predicts a depth code (see `model/spec.py`) for a {spec.IMAGE_SIZE}x{spec.IMAGE_SIZE} face crop made by
`model/crop.py`: the nearest face point at {spec.NEAR_CODE}, relief in units of the crop side (gain {spec.GAIN}),
background at {spec.BACKGROUND_CODE:+}. The app converts it to millimetres under a nominal face size and camera
distance.

## Architecture and recipe (the seed paper's pix2pix)
U-Net generator, ngf={config["ngf"]} ({"%.1f" % (config["ngf"] ** 2 * 13.29e-3)} M parameters), {_discriminator(config)}
{_gan_term(config.get("gan_weight", 1.0))}{config["lambda_l1"]:.0f} x L1{_gradient_term(config)}; Adam
lr {config["learning_rate"]}{_d_rate(config)}, beta1 {config["beta_1"]};
batch {config["data"]["batch_size"]}; random jitter (resize {spec.JITTER_SIZE}, crop {spec.IMAGE_SIZE}), mirroring,
photometric jitter
(brightness, contrast, saturation, hue, grey, blur, JPEG, noise).
Real-photo share per batch: {config["data"]["real_fraction"]}.

## Data (made by `facedepth-train generate`; nothing of it is in this repository)
| split | real photos with pseudo ground truth | synthetic renders |
|---|---|---|
| train | {counts["train"].get("real", 0)} | {sum(models.values())} |
| held out | {counts["val"].get("real", 0)} | {counts["val"].get("synthetic", 0)} |

* Real: {_real_photos_line(counts["train"].get("real", 0), teacher)} Held out by a hash of the file name
  ({VAL_FRACTION:.0%}).{_targets_line(teacher)}
* Synthetic: {", ".join(f"{n} {m}" for m, n in sorted(models.items())) or "no"} renders (`generate synthetic
  --face-model`) with random identity/expression, yaw up to ±{poses.yaw_deg:.0f}°, pitch
  ±{render_pitch_range(data_dir):.0f}°, roll ±{poses.roll_deg:.0f}°, perspective camera {near:.0f}-{far:.0f} mm,
  ambient + directional + specular coloured light, skin textures extracted from training photos (held-out renders use
  textures and backgrounds of held-out photos only).

## Training
{_parent_line(config)}{state["epoch"]} epochs x {config["steps_per_epoch"]} steps ({state["step"]} steps, {images_seen}
images seen), {state["wall_seconds"] / 3600:.2f} h wall time on {platform.machine()} CPU, {speed:.1f} img/s on
average. Best epoch by {SELECTED_BY[config.get("select_by", "val_face_mae")]}: {state["best_epoch"]}.

## Held-out evaluation (`facedepth-train evaluate`)
Depth error in mm inside the true face mask after a per-sample least-squares scale + shift; the "tilt
forgiven" column also fits a plane, which takes a global head-pose error out. The generator runs as the app
runs it: each crop magnified {spec.JITTER_SIZE}/{spec.IMAGE_SIZE} times about its centre (the training scale),
`generator_mirror` also averaged with the mirrored photo's prediction.
"real" ground truth is itself a landmark fit (pseudo ground truth), so there the landmark fit scores
near zero by construction: compare the generator with the posed mean face there.

{_eval_table(eval_report)}
{_real_depth_section(real_depth_report)}
{notes}

## Licence
{licence_section(models, counts["train"].get("real", 0), config.get("init_model_id"), teacher)}
"""
    if add_to and Path(out).is_file():
        text = merged_card(Path(out).read_text(encoding="utf-8"), text)
    atomic_write_bytes(Path(out), text.encode())


def merged_card(existing: str, part: str) -> str:
    """``part`` (one generator's card) put into the card text ``existing``, replacing an earlier part for the
    same file: parts begin at their ``# FaceDepth ...`` title and name their file on a ``File:`` line."""
    parts = [p for p in re.split(r"(?m)^(?=# FaceDepth )", existing) if p.strip()]
    kept = [p for p in parts if _file_of(p) != _file_of(part)]
    return "\n".join(p.rstrip() + "\n" for p in [*kept, part])


def _file_of(part: str) -> str | None:
    match = re.search(r"(?m)^File: `([^`]+)`", part)
    return match.group(1) if match else None


def add_parser(sub) -> None:
    p = sub.add_parser("card", help="write the model card of exported weights from their run and evaluation")
    p.add_argument("--weights", type=Path, required=True, help="the exported .tflite")
    p.add_argument("--run-dir", type=Path, required=True, help="the training run (state.json, config.json)")
    p.add_argument("--data", type=Path, default=storage.DEFAULT_DATA_DIR, help="the data set it was trained on")
    p.add_argument("--eval", type=Path, required=True, metavar="JSON", help="`facedepth-train evaluate --json` report")
    p.add_argument("--real-depth-eval", type=Path, metavar="JSON",
                   help="`facedepth-train evaluate --real-depth --json` report, for the real-depth section")
    p.add_argument("--notes", type=Path, metavar="MARKDOWN", help="text to add after the evaluation table")
    p.add_argument("--out", type=Path, help="where to write the card (default: MODEL_CARD.md beside --weights)")
    p.add_argument("--add-to", action="store_true",
                   help="put this generator's part into the existing card (replacing its earlier part) instead of "
                        "writing a card of its own: one card for every generator in the folder")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    out = args.out or args.weights.parent / "MODEL_CARD.md"
    notes = args.notes.read_text() if args.notes else ""
    report = json.loads(args.eval.read_text())
    real_depth = json.loads(args.real_depth_eval.read_text()) if args.real_depth_eval else None
    write_card(out, args.weights, file_sha256(args.weights), args.run_dir, args.data, report, notes, real_depth,
               add_to=args.add_to)
    print(out)
    return 0


def _discriminator(config: dict) -> str:
    if config.get("gan_weight", 1.0) == 0:
        return "no discriminator (none is run without a GAN term);"
    return f"70x70 PatchGAN discriminator (ndf={config['ndf']});"


def _d_rate(config: dict) -> str:
    return "" if config.get("gan_weight", 1.0) == 0 else f" (discriminator x {config.get('d_lr_factor', 1.0)})"


def _gradient_term(config: dict) -> str:
    """The shape term beside L1, when the run had one (:func:`facedepth.model.losses.gradient_loss`)."""
    weight = config.get("gradient_weight", 0.0)
    return (f" + {config['lambda_l1'] * weight:g} x L1 of the depth's finite differences "
            f"({min(GRADIENT_STEPS)}-{max(GRADIENT_STEPS)} px)") if weight else ""


def _gan_term(weight: float) -> str:
    """The GAN term of the generator's loss as the recipe line names it (the seed's at weight 1)."""
    if weight == 0:
        return "no GAN term (L1 only): "
    return "sigmoid cross-entropy GAN loss + " if weight == 1 else f"{weight:g} x sigmoid cross-entropy GAN loss + "


def _parent_line(config: dict) -> str:
    """For a fine-tune (``train --init-weights``): which generator it started from."""
    if not config.get("init_weights"):
        return ""
    parent = config.get("init_model_id") or Path(config["init_weights"]).name
    return f"Fine-tuned from the generator `{parent}` (its batch-norms frozen as folded into its export): "


def _targets_line(teacher: str | None) -> str:
    if not teacher:
        return ""
    return (f"\n* Targets: not the data set's own, but the depth that the generator `{teacher}` gives each photo "
            "and render as the app runs it at its best quality (training scale, mirror-averaged, ripple removed; "
            "`facedepth-train teacher-labels`), so this generator learns to give in one pass what that one gives "
            "in two.")


def _real_photos_line(trained: int, teacher: str | None = None) -> str:
    if not trained:
        return ("no photo was in this run's batches (real-photo share 0); the held-out UTKFace photos are scored "
                "against pseudo ground truth below.")
    if teacher:
        return "UTKFace photos (../shared/data/faces/utkface), cropped by their 68 dlib landmarks."
    return ("UTKFace photos (../shared/data/faces/utkface), 68 dlib landmarks, Surrey Face Model fit (eos: shape + 6 "
            "expression blendshapes + pose), fitted depth rendered in the same crop.")

