"""Runs the Khronos glTF validator (npm package ``gltf-validator``) on a file, through Node.

``.ci/run`` installs the package into ``.node/`` at the repository root (``npm install --prefix .node
gltf-validator``); a global install is found too. Where Node or the package is missing, the tests that use it
are skipped, unless ``FACEDEPTH_REQUIRE_GLTF_VALIDATOR=1`` (set by ``.ci/run``), which makes that a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCAL_MODULES = ROOT / ".node" / "node_modules"

_SCRIPT = """
const validator = require('gltf-validator');
const data = new Uint8Array(require('fs').readFileSync(process.argv[1]));
validator.validateBytes(data).then((report) => console.log(JSON.stringify(report.issues)))
    .catch((error) => { console.error(String(error)); process.exit(2); });
"""


def _node_env() -> dict[str, str] | None:
    node = shutil.which("node")
    if node is None:
        return None
    paths = [str(LOCAL_MODULES)]
    npm = shutil.which("npm")
    if npm is not None:
        found = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=60)
        if found.returncode == 0 and found.stdout.strip():
            paths.append(found.stdout.strip())
    env = dict(os.environ, NODE_PATH=os.pathsep.join(paths))
    probe = subprocess.run([node, "-e", "require('gltf-validator')"], env=env, capture_output=True, timeout=60)
    return env if probe.returncode == 0 else None


def validate(path: Path) -> dict:
    """The validator's ``issues`` object (numErrors, numWarnings, messages, ...) for a .glb or .gltf file."""
    env = _node_env()
    if env is None:
        reason = "node and the npm package gltf-validator are needed (npm install --prefix .node gltf-validator)"
        if os.environ.get("FACEDEPTH_REQUIRE_GLTF_VALIDATOR") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    done = subprocess.run([shutil.which("node"), "-e", _SCRIPT, str(path)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def errors(issues: dict) -> list[str]:
    """The messages of severity error (0) and warning (1)."""
    return [f"{m['code']}: {m['message']} at {m.get('pointer', '?')}" for m in issues["messages"] if m["severity"] <= 1]
