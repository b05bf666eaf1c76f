"""Depth map + photo -> coloured point cloud -> Poisson or grid mesh -> wire frame, and their exports.

Modules: :mod:`.camera` (pinhole model, internal and export frames), :mod:`.settings` (MeshSettings, all
defaults), :mod:`.pointcloud`, :mod:`.surface` (meshing and the staged ``reconstruct``), :mod:`.texture` (the
photo as the mesh's texture), :mod:`.export`.
Imports no sibling package but two dependency-free modules of :mod:`facedepth.model`: the depth convention
(:mod:`~facedepth.model.depthcode`) and the atomic file writer (:mod:`~facedepth.model.files`).
"""
