#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run runs exactly this): lint, then the pytest
# suite in two processes: TensorFlow (training tests) and Kivy's OpenGL window crash when loaded into one
# process, so the GUI tests (marker "gui") run on their own, under Xvfb when there is no display.
set -euo pipefail
cd "$(dirname "$0")/.."

ruff check .
run() {
    if [[ -z "${DISPLAY:-}" ]] && command -v xvfb-run >/dev/null 2>&1; then
        xvfb-run -a -s "-screen 0 1280x1024x24" python -m pytest "$@"
    else
        python -m pytest "$@"
    fi
}
run -m "not gui" "$@"
status=0
# Only the app's test modules: collecting the others would import TensorFlow into this process.
run -m gui tests/test_app_*.py "$@" || status=$?
# pytest exits 5 when it collects no test (a -k filter that matches no GUI test, say): not a failure.
[[ $status -eq 5 ]] && status=0
exit $status
