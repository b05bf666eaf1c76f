"""`facedepth-train`: generate data, train, resume, evaluate and export the generator."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from facedepth.model.reporting import configure_logging
from facedepth.model.resources import QUALITIES
from facedepth.training import storage
from facedepth.training.evaluate_real_depth import default_real_depth_dir
from facedepth.training.facemodel import default_sfm_dir
from facedepth.training.generate import PseudoGTConfig
from facedepth.training.ictface import default_ict_dir
from facedepth.training.precision import PRECISIONS
from facedepth.training.storage import default_utkface_dir
from facedepth.training.synthetic import SyntheticConfig
from facedepth.training.teachers import TEACHERS
from facedepth.training.train_config import FACE_MODELS, SELECTION_METRICS, DataConfig, TrainConfig

DEFAULT_DATA = storage.DEFAULT_DATA_DIR
DEFAULT_RUN = Path("runs/main")


def _add_generate(sub) -> None:
    p = sub.add_parser("generate", help="make training pairs (pseudo ground truth on real photos, synthetic renders)")
    p.add_argument("kind", choices=["pseudo-gt", "synthetic"])
    p.add_argument("--out", type=Path, default=DEFAULT_DATA, help="data set folder (default: %(default)s)")
    p.add_argument("--photos", type=Path, default=default_utkface_dir(), help="real face photos (UTKFace)")
    p.add_argument("--sfm", type=Path, default=default_sfm_dir(), help="Surrey Face Model folder")
    p.add_argument("--face-model", choices=FACE_MODELS, default="surrey",
                   help="synthetic: the face model to render (ict: whole heads; its skin still comes from the "
                        "Surrey-layout donor textures, so --sfm is needed too)")
    p.add_argument("--ict", type=Path, default=default_ict_dir(),
                   help="ICT Face Model folder: ICT-FaceKit's FaceXModel/, or ict_face_model.npz beside "
                        "generic_neutral_mesh.obj")
    p.add_argument("--count", type=int, default=4000, help="synthetic samples to render (per --split)")
    p.add_argument("--split", choices=["train", "val"], default="train")
    p.add_argument("--limit", type=int, help="pseudo-gt: process at most this many photos")
    p.add_argument("--texture-every", type=int, default=PseudoGTConfig.texture_every,
                   help="pseudo-gt: keep a donor texture every n photos (default: %(default)s)")
    p.add_argument("--teacher", choices=TEACHERS, default=PseudoGTConfig.teacher,
                   help="pseudo-gt: whose depth the targets are (default: %(default)s; see training/teachers.py)")
    p.add_argument("--teacher-maps", type=Path,
                   help="pseudo-gt: folder of MediaPipe mesh depth maps (<stem>.npy) for --teacher mediapipe/fused")
    p.add_argument("--pitch-deg", type=float, metavar="DEG",
                   help=f"synthetic: head pitch drawn within +-DEG (default: {SyntheticConfig.pitch_deg:g})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train pix2pix on a generated or imported data set")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN)
    p.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    p.add_argument("--ngf", type=int, default=32, help="generator width (64 = the paper's)")
    p.add_argument("--ndf", type=int, default=64, help="discriminator width (64 = the paper's)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--steps-per-epoch", type=int, default=1000)
    p.add_argument("--real-fraction", type=float, default=0.5, help="share of real-photo pairs per batch")
    p.add_argument("--face-models", type=_face_models, default=DataConfig.face_models, metavar="NAMES",
                   help="train on synthetic renders of these face models only, comma-separated "
                        f"(default: {','.join(DataConfig.face_models)})")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--d-lr-factor", type=float, default=1.0,
                   help="discriminator learning rate relative to --lr (below 1 slows a discriminator that wins)")
    p.add_argument("--gan-weight", type=float, default=TrainConfig.gan_weight,
                   help="weight of the GAN term beside 100 x L1 (default %(default)s, the seed's; 0 = L1 only)")
    p.add_argument("--gradient-weight", type=float, default=TrainConfig.gradient_weight,
                   help="weight of a shape term beside L1: the L1 of the depth's finite differences on the face, "
                        "at 1-8 pixels (default %(default)s, the seed's objective)")
    p.add_argument("--max-minutes", type=float, help="stop cleanly after this much wall time")
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--init-weights", type=Path, metavar="TFLITE",
                   help="start the generator from an exported fp16 .tflite (fine-tuning) instead of random weights")
    p.add_argument("--real-depth", type=Path, nargs="?", const=default_real_depth_dir(), metavar="DIR",
                   help="score the generator on a real-depth set after every epoch (default set: %(const)s)")
    p.add_argument("--real-depth-limit", type=int, help="score at most this many real-depth samples per epoch")
    p.add_argument("--real-depth-quality", choices=QUALITIES, default=TrainConfig.real_depth_quality,
                   help="run the generator there mirror-averaged (best) or in one pass (fast: for a distilled "
                        "student) (default: %(default)s)")
    p.add_argument("--select-by", choices=SELECTION_METRICS, default=TrainConfig.select_by,
                   help="validation figure that picks the best epoch and drives early stop (default: %(default)s)")
    p.add_argument("--precision", choices=PRECISIONS, default=TrainConfig.precision,
                   help="compute precision (default %(default)s: mixed_bfloat16 on CPUs with native bfloat16, "
                        "else float32)")


def _face_models(text: str) -> tuple[str, ...]:
    """Comma-separated names; DataConfig checks them."""
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _at_least_two(text: str) -> int:
    if not text.isdigit() or int(text) < 2:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 2, got {text!r}")
    return int(text)


def _add_export(sub) -> None:
    p = sub.add_parser("export", help="export the best generator of a run to .tflite (+ model card)")
    p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="validation photos used to check the export")
    p.add_argument("--out", type=Path, default=Path("weights/generator.tflite"))
    p.add_argument("--ngf", type=int, help="generator width (default: the run's, from its config.json)")
    p.add_argument("--fp32", action="store_true", help="keep fp32 weights (default fp16, half the size)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--latest", action="store_true", help="export the latest checkpoint instead of the best")
    which.add_argument("--average", type=_at_least_two, metavar="N",
                       help="export the mean weights of the last N (>= 2) kept checkpoints instead of the best")
    p.add_argument("--tolerance", type=float, default=1e-2,
                   help="largest accepted |Keras - LiteRT| in code units (1e-2 = 0.8 mm at a 230 mm crop)")
    p.add_argument("--model-id", help="id stamped into the file, for the model card's 'Model id:' line "
                                      "(default: the model's name and a digest)")


def _add_stamp(sub) -> None:
    p = sub.add_parser("stamp", help="stamp an exported .tflite with its FaceDepth identity (model id and depth "
                                     "convention), in place; the app refuses generators without it")
    p.add_argument("weights", type=Path, help="the .tflite to stamp (its MODEL_CARD.md's sha256 line follows)")
    p.add_argument("--model-id", required=True, help="the id the model card names ('Model id:' line)")


def run_config(run_dir: Path) -> dict:
    """The training configuration a run saved in ``<run>/config.json``."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: not a training run folder (or pass --ngf)")
    return json.loads(path.read_text())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facedepth-train", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_generate(sub)
    _add_train(sub)
    _add_export(sub)
    _add_stamp(sub)
    from facedepth.training.evaluate import add_parser as add_evaluate
    from facedepth.training.importers import add_parsers as add_importers
    from facedepth.training.model_card import add_parser as add_card
    from facedepth.training.teacher_labels import add_parser as add_teacher_labels
    from facedepth.training.weight_mix import add_parser as add_mix_weights

    add_evaluate(sub)
    add_importers(sub)
    add_card(sub)
    add_teacher_labels(sub)
    add_mix_weights(sub)
    return parser


def _generate(args) -> int:
    from facedepth.training.generate import SyntheticJob, generate_pseudo_gt, generate_synthetic

    if args.kind == "pseudo-gt":
        if args.teacher != "eos" and args.teacher_maps is None:
            print(f"error: --teacher {args.teacher} needs --teacher-maps (made by "
                  "facedepth.training.mediapipe_teacher)", file=sys.stderr)
            return 2
        generate_pseudo_gt(PseudoGTConfig(args.photos, args.out, args.sfm, args.limit, args.texture_every,
                                          args.teacher, args.teacher_maps), workers=args.workers)
    else:
        job = SyntheticJob(args.out, args.photos, args.split, args.count, args.seed, args.face_model, args.ict,
                           args.pitch_deg)
        try:
            generate_synthetic(job, args.sfm, workers=args.workers)
        except ValueError as exc:  # a face model or pitch range it cannot render
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return 0


def _train(args) -> int:
    from facedepth.training.train import train

    try:
        cfg = TrainConfig(DataConfig(args.data, batch_size=args.batch_size, real_fraction=args.real_fraction,
                                     face_models=args.face_models),
                          run_dir=args.run_dir, ngf=args.ngf, ndf=args.ndf, learning_rate=args.lr,
                          d_lr_factor=args.d_lr_factor, gan_weight=args.gan_weight,
                          gradient_weight=args.gradient_weight, epochs=args.epochs,
                          steps_per_epoch=args.steps_per_epoch,
                          max_minutes=args.max_minutes, patience=args.patience, init_weights=args.init_weights,
                          real_depth=args.real_depth, real_depth_limit=args.real_depth_limit,
                          real_depth_quality=args.real_depth_quality,
                          select_by=args.select_by, precision=args.precision)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    state = train(cfg, resume=args.resume)
    logging.info("finished at epoch %d (best epoch %d, %s %.4f)", state.epoch, state.best_epoch, cfg.select_by,
                 state.best_val)
    return 0


def _export(args) -> int:
    import numpy as np

    from facedepth.training.dataset import validation_dataset
    from facedepth.training.export import export_tflite, max_abs_difference
    from facedepth.training.train import load_averaged_generator, load_best_generator

    ngf = args.ngf or run_config(args.run_dir)["ngf"]
    if args.average:
        generator = load_averaged_generator(args.run_dir, ngf, args.average)
    else:
        generator = load_best_generator(args.run_dir, ngf, latest=args.latest)
    digest = export_tflite(generator, args.out, fp16=not args.fp32, model_id=args.model_id)
    photos = np.concatenate([b[0].numpy() for b in validation_dataset(args.data, batch_size=4).take(2)])
    diff = max_abs_difference(generator, args.out, photos)
    logging.info("max |keras - litert| over %d validation photos: %.2e", len(photos), diff)
    print(f"{args.out}\nsha256: {digest}\nmax_abs_difference: {diff:.2e}")
    return 0 if diff < args.tolerance else 1


def _stamp(args) -> int:
    from facedepth.training.export import stamp_file

    before, after = stamp_file(args.weights, args.model_id)
    print(f"{args.weights}\nmodel id: {args.model_id}\nsha256: {after}" + ("" if after != before else " (unchanged)"))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(logging.DEBUG if args.verbose else logging.INFO, timestamps=True)
    handlers = {"generate": _generate, "train": _train, "export": _export, "stamp": _stamp}
    try:
        return handlers[args.command](args) if args.command in handlers else args.func(args)
    except (FileNotFoundError, FileExistsError) as exc:  # a missing run, data set or model folder; a used run
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
