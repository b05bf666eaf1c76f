"""The FaceDepth executable (frozen build) and ``python -m facedepth.app``: the window, or the self-test
without a window.

``--self-test`` is dispatched here, before anything imports Kivy: Kivy reads the command line and sets up
a window when some of its modules are imported.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--self-test" in args:
        from facedepth.app.selftest import main as self_test

        return self_test(args)
    from facedepth.app.main import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
