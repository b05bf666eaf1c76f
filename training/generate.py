"""Multiprocess generation of the training sets (pseudo ground truth and synthetic renders)."""

from __future__ import annotations

import logging
import multiprocessing as mp
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from facedepth.training import storage
from facedepth.training.splits import split_of
from facedepth.training.train_config import FACE_MODELS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PseudoGTConfig:
    photos_dir: Path
    out_dir: Path
    sfm_dir: Path | None = None
    limit: int | None = None
    texture_every: int = 3
    """Extract a donor skin texture from every n-th accepted photo (extraction costs 0.25 s)."""
    teacher: str = "eos"
    """Whose depth the pseudo ground truth is (:mod:`facedepth.training.teachers`)."""
    teacher_maps: Path | None = None
    """The MediaPipe mesh depth maps of the photos (``<stem>.npy``), for the mesh-based teachers."""


_state: dict = {}


def _init_pseudo(sfm_dir: Path | None) -> None:
    from facedepth.model.face import FaceDetector
    from facedepth.training.facemodel import FaceModel
    from facedepth.training.pseudo_gt import MIN_SCORE

    _state["model"] = FaceModel(sfm_dir)
    _state["detector"] = FaceDetector(min_score=MIN_SCORE)


def _pseudo_task(args: tuple[int, Path, PseudoGTConfig]) -> dict:
    import numpy as np

    from facedepth.training.pseudo_gt import Rejected, make_pseudo_sample
    from facedepth.training.teachers import teacher_map_path

    index, path, cfg = args
    split = split_of(path.name)
    name = f"real_{path.name.split('.')[0]}"
    mesh_path = teacher_map_path(cfg.teacher_maps, path) if cfg.teacher_maps else None
    try:
        rgb = storage.read_rgb(path)
        mesh_map = np.load(mesh_path) if mesh_path is not None and mesh_path.is_file() else None
        sample = make_pseudo_sample(_state["model"], _state["detector"], rgb,
                                    with_texture=index % cfg.texture_every == 0, teacher=cfg.teacher,
                                    mesh_map=mesh_map)
    except Rejected as e:
        return {"rejected": str(e), "source": path.name}
    except OSError as e:
        return {"rejected": f"unreadable ({e})", "source": path.name}
    storage.write_sample(cfg.out_dir / split, name, sample.photo, sample.code)
    if sample.texture is not None:
        storage.write_image(cfg.out_dir / "textures" / split / f"{name}.png", sample.texture)
    yaw, pitch, roll = (float(a) for a in sample.fit.yaw_pitch_roll)
    return {"split": split, "name": name, "kind": "real", "teacher": cfg.teacher, "source": path.name,
            "yaw": yaw, "pitch": pitch,
            "roll": roll, "crop_side_mm": sample.crop_side_mm, "landmark_error": sample.fit.landmark_error,
            "detector_score": sample.face.score, "shape": sample.fit.shape_coeffs.tolist(),
            "expression": sample.fit.expression_coeffs.tolist(), "texture": sample.texture is not None}


def run_pool(task: Callable, jobs: Iterable, total: int, workers: int, init: Callable, init_args: tuple,
             out_dir: Path, desc: str) -> Counter:
    """Runs tasks in worker processes, appends accepted records to each split's index; counts outcomes."""
    outcomes: Counter = Counter()
    buffers: dict[str, list[dict]] = {}

    def collect(records: Iterable[dict]) -> None:
        for rec in tqdm(records, total=total, desc=desc):
            if "rejected" in rec:
                outcomes[f"rejected: {rec['rejected']}"] += 1
                continue
            outcomes[f"accepted {rec['split']}"] += 1
            buffers.setdefault(rec["split"], []).append(rec)
            if len(buffers[rec["split"]]) >= 100:
                storage.append_index(out_dir / rec["split"], buffers.pop(rec["split"]))

    if workers <= 1:  # in this process: no start-up cost, and the same results
        init(*init_args)
        collect(map(task, jobs))
    else:
        with mp.get_context("spawn").Pool(workers, initializer=init, initargs=init_args) as pool:
            collect(pool.imap_unordered(task, jobs, chunksize=4))
    for split, recs in buffers.items():
        storage.append_index(out_dir / split, recs)
    return outcomes


def generate_pseudo_gt(cfg: PseudoGTConfig, workers: int = 2) -> Counter:
    """Pseudo ground truth for every photo in ``photos_dir`` not yet in the output's indexes (resumable)."""
    photos = sorted(p for p in cfg.photos_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if cfg.limit:
        photos = photos[: cfg.limit]
    done = {r["source"] for s in ("train", "val") for r in storage.read_index(cfg.out_dir / s) if r["kind"] == "real"}
    jobs = [(i, p, cfg) for i, p in enumerate(photos) if p.name not in done]
    logger.info("pseudo ground truth: %d photos, %d already done", len(photos), len(photos) - len(jobs))
    outcomes = run_pool(_pseudo_task, jobs, len(jobs), workers, _init_pseudo, (cfg.sfm_dir,), cfg.out_dir,
                        "pseudo-GT")
    for k, v in sorted(outcomes.items()):
        logger.info("  %s: %d", k, v)
    return outcomes


NAME_PREFIX = {"surrey": "syn", "ict": "ict"}
"""Sample names start with the face model's prefix, so renders of both models can share a data set."""


MAX_PITCH_DEG = 60.0
"""The widest pitch range accepted: at 50-60 degrees a render already sees the face from under the chin or
over the brow, strongly foreshortened; 40 is the widest trained on (weights/MODEL_CARD.md)."""


@dataclass(frozen=True)
class SyntheticJob:
    out_dir: Path
    photos_dir: Path
    split: str
    count: int
    seed: int = 0
    face_model: str = "surrey"
    ict_dir: Path | None = None
    """The ICT Face Model folder (official FaceXModel/ or the npz beside generic_neutral_mesh.obj)."""
    pitch_deg: float | None = None
    """Head pitch drawn uniformly within +-this (None: :class:`SyntheticConfig`'s)."""

    def name(self, index: int) -> str:
        return f"{NAME_PREFIX[self.face_model]}_{self.seed}_{index:06d}"


def _init_synthetic(job: SyntheticJob, sfm_dir: Path | None) -> None:
    key = (job.face_model, sfm_dir, job.ict_dir)
    if _state.get("models_for") != key:  # loading takes seconds: an in-process rerun keeps them
        from facedepth.training.facemodel import FaceModel

        surrey = FaceModel(sfm_dir)
        if job.face_model == "ict":
            from facedepth.training.ictface import IctFaceModel
            from facedepth.training.skintransfer import SkinTransfer

            ict = IctFaceModel(job.ict_dir)
            _state.update(model=ict, skin=SkinTransfer(ict, surrey))
        else:
            _state.update(model=surrey, skin=None)
        _state["models_for"] = key
    _state["textures"] = sorted((job.out_dir / "textures" / job.split).glob("*.png"))
    _state["backgrounds"] = sorted(p for p in job.photos_dir.iterdir() if split_of(p.name) == job.split)


def _check_synthetic(job: SyntheticJob, sfm_dir: Path | None) -> None:
    """Fails early, in the calling process, on what would make every worker fail (one clear message)."""
    from facedepth.training.facemodel import SFM_ENV, default_sfm_dir

    if job.face_model not in FACE_MODELS:
        raise ValueError(f"unknown face model {job.face_model!r} (one of {', '.join(FACE_MODELS)})")
    if job.pitch_deg is not None and not 0 <= job.pitch_deg <= MAX_PITCH_DEG:
        raise ValueError(f"pitch range {job.pitch_deg:g} degrees: expected 0 to {MAX_PITCH_DEG:g}")
    sfm = Path(sfm_dir) if sfm_dir else default_sfm_dir()
    if not (sfm / "sfm_shape_3448.bin").is_file():
        raise FileNotFoundError(f"Surrey Face Model not found in {sfm} (set {SFM_ENV} or --sfm)")
    if job.face_model == "ict":
        from facedepth.training.ictface import model_folder

        model_folder(job.ict_dir)
    if not any((job.out_dir / "textures" / job.split).glob("*.png")):
        raise FileNotFoundError(f"no donor textures in {job.out_dir / 'textures' / job.split}: run pseudo-gt first")
    if not job.photos_dir.is_dir():
        raise FileNotFoundError(f"background photos folder {job.photos_dir} not found")


def synthetic_rng(job: SyntheticJob, index: int):
    """The sample's own generator: a pure function of (seed, index, split, face model)."""
    import numpy as np

    key = [job.seed, index, 0 if job.split == "train" else 1]
    return np.random.default_rng(key if job.face_model == "surrey" else [*key, FACE_MODELS.index(job.face_model)])


def _synthetic_task(args: tuple[int, SyntheticJob]) -> dict:
    from facedepth.training.synthetic import SyntheticConfig, random_background, render_scene, sample_scene

    index, job = args
    rng = synthetic_rng(job, index)
    cfg = SyntheticConfig() if job.pitch_deg is None else SyntheticConfig(pitch_deg=job.pitch_deg)
    model = _state["model"]
    scene = sample_scene(rng, model, cfg)
    texture_path = _state["textures"][rng.integers(len(_state["textures"]))]
    texture = storage.read_rgb(texture_path)
    if _state["skin"] is not None:
        texture = _state["skin"](texture)
    background = random_background(rng, _state["backgrounds"], 512)
    photo, code, meta = render_scene(model, scene, texture, background, rng, cfg)
    name = job.name(index)
    storage.write_sample(job.out_dir / job.split, name, photo, code)
    return {"split": job.split, "name": name, "kind": "synthetic", "texture": texture_path.name, **meta}


def generate_synthetic(job: SyntheticJob, sfm_dir: Path | None = None, workers: int = 2) -> Counter:
    """Renders ``count`` synthetic samples into ``split`` (resumable: existing names are skipped).

    Each sample depends only on the job's seed and its index, not on ``workers`` or scheduling."""
    _check_synthetic(job, sfm_dir)
    done = {r["name"] for r in storage.read_index(job.out_dir / job.split) if r["kind"] == "synthetic"}
    jobs = [(i, job) for i in range(job.count) if job.name(i) not in done]
    logger.info("synthetic %s (%s): %d to render, %d already done", job.split, job.face_model, len(jobs),
                job.count - len(jobs))
    outcomes = run_pool(_synthetic_task, jobs, len(jobs), workers, _init_synthetic, (job, sfm_dir), job.out_dir,
                        f"{job.face_model} {job.split}")
    for k, v in sorted(outcomes.items()):
        logger.info("  %s: %d", k, v)
    return outcomes
