"""A generator whose weights lie on the line between two generators' (a weight-space ensemble, as in
WiSE-FT: Wortsman et al. 2022, "Robust fine-tuning of zero-shot models").

Meant for a fine-tune and the generator it started from: both exports hold their batch-norms folded into
the convolutions (:mod:`facedepth.training.warm_start`), so mixing every kernel and bias mixes the two
networks, and the result costs what either does at run time. Between two unrelated generators the line
passes through nonsense; nothing here can tell, so only measure what comes out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def generator_width(path: Path) -> int:
    """ngf of an exported generator: the channels of its first convolution."""
    from facedepth.training.warm_start import conv_weights

    return int(conv_weights(Path(path))[0][0].shape[0])


def mixed_generator(base: Path, other: Path, share: float):
    """The Keras generator with ``(1 - share) * base + share * other`` for every weight of two exports of
    the same width; ``share`` 0 is ``base``, 1 is ``other`` and values outside [0, 1] extrapolate."""
    from facedepth.training.warm_start import generator_from_tflite

    ngf, other_ngf = generator_width(base), generator_width(other)
    if other_ngf != ngf:
        raise ValueError(f"{other}: ngf={other_ngf}, but {base} has ngf={ngf}")
    mixed, toward = generator_from_tflite(base, ngf), generator_from_tflite(other, ngf)
    for mine, theirs in zip(mixed.weights, toward.weights, strict=True):
        mine.assign((1.0 - share) * mine.numpy() + share * theirs.numpy())
    return mixed


def add_parser(sub) -> None:
    p = sub.add_parser("mix-weights", help="export a generator whose weights are (1 - share) x BASE + share x "
                                           "OTHER (e.g. a fine-tune pulled back toward its parent)")
    p.add_argument("base", type=Path, help="an exported generator (.tflite)")
    p.add_argument("other", type=Path, help="an exported generator of the same width, e.g. BASE's parent")
    p.add_argument("--share", type=float, required=True, help="OTHER's share of each weight (0 = BASE)")
    p.add_argument("--out", type=Path, required=True, help="the mixed generator (.tflite, fp16, stamped)")
    p.add_argument("--model-id", required=True, help="the id stamped into the file")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from facedepth.training.export import export_tflite

    for path in (args.base, args.other):
        if not Path(path).is_file():
            print(f"error: {path} not found", file=sys.stderr)
            return 2
    try:
        generator = mixed_generator(args.base, args.other, args.share)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    digest = export_tflite(generator, args.out, model_id=args.model_id)
    print(f"{args.out}\nsha256: {digest}")
    return 0
