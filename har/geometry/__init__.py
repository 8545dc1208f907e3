"""Image geometry, written once: person boxes, crop windows, affine matrices, reduced-decode changes of coordinates,
region warps and (for 3D data) the camera model. Pure numpy (``apply_affine_torch`` excepted); no dataset knowledge.

Conventions (read :mod:`har.geometry.affine` first): a pixel's centre sits at integer coordinates (OpenCV's
``warpAffine`` convention); one 2×3 matrix maps original-image pixels to crop pixels.
"""
