"""PyInstaller runtime hook: lets ``import open3d`` work without plotly and dash.

``open3d.visualization`` imports its plotly/dash drawing helpers unconditionally; FaceDepth never draws
with them, so the bundle leaves plotly, dash and their web stack out (over 100 MB and 0.4 s of start-up)
and registers this module in their place. Calling one of its functions raises a clear error.
"""

import sys
import types


def _not_bundled(*_args, **_kwargs):
    raise RuntimeError("Open3D's plotly drawing is not part of the FaceDepth bundle")


_module = types.ModuleType("open3d.visualization.draw_plotly", __doc__)
_module.get_plotly_fig = _module.draw_plotly = _module.draw_plotly_server = _not_bundled
sys.modules[_module.__name__] = _module
