"""Depth map + photo -> coloured point cloud -> Poisson or grid mesh -> wire frame, and their exports.

Modules: :mod:`.camera` (pinhole model, internal and export frames), :mod:`.settings` (MeshSettings, all
defaults), :mod:`.pointcloud`, :mod:`.surface` (meshing and the staged ``reconstruct``), :mod:`.export`.
Imports no sibling package.
"""
