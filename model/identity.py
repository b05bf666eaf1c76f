"""A FaceDepth generator identifies itself: a JSON record in the .tflite file's metadata.

Shape checks alone accept any 256 x 256 image-to-image model (a segmentation network, say), which then
runs and writes garbage. So export (and ``facedepth-train stamp`` for a generator exported before this
existed) adds a TFLite metadata entry named :data:`METADATA_NAME` holding :func:`record`: the format tag,
the model id the model card names, and the depth convention the generator was trained for (the numbers of
:mod:`facedepth.model.spec`). The app refuses a .tflite without it, or trained for another convention.

Reading and writing use the flatbuffer schema that ships with ``ai_edge_litert`` (no TensorFlow).
"""

from __future__ import annotations

import json
from pathlib import Path

from facedepth.model import spec

METADATA_NAME = "facedepth.generator"
FORMAT = "facedepth-generator"
VERSION = 1
_TFLITE_IDENTIFIER = b"TFL3"


class IdentityError(ValueError):
    """The file carries no FaceDepth identity, a malformed one, or one for another depth convention."""


def depth_convention() -> dict[str, float | int]:
    """The numbers that fix what the generator's input and output mean (see :mod:`facedepth.model.spec`)."""
    return {
        "image_size": spec.IMAGE_SIZE,
        "crop_scale": spec.CROP_SCALE,
        "jitter_size": spec.JITTER_SIZE,
        "gain": spec.GAIN,
        "near_code": spec.NEAR_CODE,
        "face_max_code": spec.FACE_MAX_CODE,
        "background_code": spec.BACKGROUND_CODE,
        "mask_threshold": spec.MASK_THRESHOLD,
    }


def record(model_id: str) -> dict:
    """The identity written into a generator: format, version, model id and depth convention."""
    if not model_id or any(c.isspace() for c in model_id):
        raise ValueError(f"a model id is one word without spaces, got {model_id!r}")
    return {"format": FORMAT, "version": VERSION, "model_id": model_id, "depth_convention": depth_convention()}


def stamp(model: bytes, model_id: str) -> bytes:
    """``model`` (.tflite bytes) with the identity of ``model_id`` added, replacing any earlier one.

    Deterministic: the same model and id give the same bytes, so stamping is a reproducible step."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    try:
        tree = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    except Exception as exc:  # flatbuffers raises struct.error, IndexError, ... on a damaged file
        raise IdentityError(f"not a .tflite flatbuffer ({exc})") from exc
    payload = json.dumps(record(model_id), sort_keys=True).encode("utf-8")
    tree.buffers = tree.buffers or []
    tree.metadata = tree.metadata or []
    entry = next((m for m in tree.metadata if _name(m.name) == METADATA_NAME), None)
    if entry is None:  # a new buffer and entry; a second stamp reuses them, so stamping twice = once
        tree.buffers.append(schema.BufferT())
        entry = schema.MetadataT()
        entry.name = METADATA_NAME
        entry.buffer = len(tree.buffers) - 1
        tree.metadata.append(entry)
    tree.buffers[entry.buffer].data = list(payload)
    builder = flatbuffers.Builder(len(model) + len(payload) + 1024)
    builder.Finish(tree.Pack(builder), file_identifier=_TFLITE_IDENTIFIER)
    return bytes(builder.Output())


def read(model: bytes) -> dict | None:
    """The identity record in ``model`` (.tflite bytes), or None when it has none."""
    from ai_edge_litert import schema_py_generated as schema

    try:
        root = schema.Model.GetRootAs(model, 0)
        for i in range(root.MetadataLength()):
            entry = root.Metadata(i)
            if _name(entry.Name()) == METADATA_NAME:
                buffer = root.Buffers(entry.Buffer())
                return json.loads(bytes(buffer.DataAsNumpy()).decode("utf-8")) if buffer.DataLength() else {}
    except (ValueError, UnicodeDecodeError) as exc:  # json.JSONDecodeError is a ValueError
        raise IdentityError(f"its FaceDepth identity is malformed ({exc})") from exc
    except Exception as exc:  # a damaged flatbuffer: struct.error, IndexError, ...
        raise IdentityError(f"its metadata cannot be read ({type(exc).__name__})") from exc
    return None


def check(model: bytes) -> dict:
    """The identity of ``model``; raises IdentityError (one user-facing line) unless it is a FaceDepth
    generator for this version's depth convention."""
    found = read(model)
    if found is None:
        raise IdentityError("not a FaceDepth generator: its metadata holds no FaceDepth identity (models of "
                            "other projects are refused; a generator exported by an older FaceDepth can be "
                            "stamped with facedepth-train stamp)")
    if not isinstance(found, dict) or found.get("format") != FORMAT or not isinstance(found.get("model_id"), str):
        raise IdentityError("its FaceDepth identity is malformed (no format tag or model id)")
    if found.get("version") != VERSION:
        raise IdentityError(f"FaceDepth identity version {found.get('version')!r} is not supported "
                            f"(this FaceDepth reads version {VERSION})")
    expected = depth_convention()
    theirs = found.get("depth_convention") or {}
    differ = sorted(k for k in expected if theirs.get(k) != expected[k])
    if differ:
        shown = ", ".join(f"{k} {theirs.get(k)!r} (expected {expected[k]!r})" for k in differ)
        raise IdentityError(f"generator {found['model_id']} was trained for another depth convention: {shown}")
    return found


def check_file(path: Path) -> dict:
    """:func:`check` on a file (OSError when it cannot be read)."""
    return check(Path(path).read_bytes())


def _name(raw: bytes | str | None) -> str:
    return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else (raw or "")
