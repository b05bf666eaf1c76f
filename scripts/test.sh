#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run runs exactly this): lint, then the whole
# pytest suite. The GUI tests need an OpenGL context, so without a display the suite runs under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."

ruff check .
if [[ -z "${DISPLAY:-}" ]] && command -v xvfb-run >/dev/null 2>&1; then
    exec xvfb-run -a -s "-screen 0 1280x1024x24" python -m pytest "$@"
fi
exec python -m pytest "$@"
