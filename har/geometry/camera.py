"""Pinhole camera with radial and tangential distortion, as deephar and Human3.6M define it.

The model is deephar's ``Camera`` (``deephar/utils/camera.py:32-50``), in millimetres:

1. world → camera: ``x = R·(X_w − T)``. ``R`` (3×3) rotates world into camera axes and ``T`` is the **camera centre
   in world coordinates** (the Human3.6M metadata convention), not the usual ``t`` of ``R·X + t``;
2. perspective divide: ``(a, b) = (x/z, y/z)``;
3. distortion, deephar's formula: ``r² = a² + b²``, ``radial = 1 + k₀r² + k₁r⁴ + k₂r⁶``, ``tan = p₀a + p₁b``,
   ``a' = a·(radial + tan) + p₀r²``, ``b' = b·(radial + tan) + p₁r²``;
4. pixels: ``u = f₀a' + c₀``, ``v = f₁b' + c₁``.

``uvd`` means (u, v in pixels, z = camera-space depth in mm). The pixel frame is the calibration's own, used as it is
by deephar and mmpose alike; har reads it as its pixel-centre frame (``har/codec.py``) without any shift.

Other implementations write the tangential term differently: mmpose's ``SimpleCamera`` (and the Human3.6M MATLAB
code it follows) uses ``tan = 2(p₁a + p₀b)`` and adds ``r²·(p₁, p₀)``. With Human3.6M's coefficients (|p| ≈ 1e-3)
the two differ by well under a pixel; har follows deephar.

**Inverse.** deephar's ``inverse_project`` undoes the distortion approximately, in one step (the distortion is
evaluated at the distorted point). :meth:`Camera.unproject` inverts it by Newton's method instead: for points
inside Human3.6M's images the residual ``|distort(undistort(q)) − q|`` is below 1e-12 in normalised image
coordinates (≈ 1e-9 px at f ≈ 1150 px), measured in ``tests/test_camera.py``. ``method="deephar"`` reproduces
deephar's one-step inverse (off by up to ≈ 0.9 px inside a 1000 × 1000 image with H36M's
coefficients).

Everything is numpy and broadcasts over leading dimensions: points ``(..., 3)`` with the parameters of one camera,
or parameter arrays with matching leading dimensions (``(N, 1, 3, 3)`` rotations for points ``(N, J, 3)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SERIALIZED_SIZE = 21  # deephar's Camera.serialize(): R (9, row-major), T (3), f (2), c (2), p (2), k (3)
ORTHONORMAL_TOL = 1e-5  # |R·Rᵀ − I| beyond this: not a rotation
UNDISTORT_ITERATIONS = 20


def world_to_camera(points: np.ndarray, R: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Camera coordinates ``R·(X − T)`` of world points ``(..., 3)``."""
    return np.einsum("...ij,...j->...i", R, np.asarray(points, np.float64) - T)


def camera_to_world(points: np.ndarray, R: np.ndarray, T: np.ndarray) -> np.ndarray:
    """World coordinates ``Rᵀ·x + T`` of camera points ``(..., 3)``."""
    return np.einsum("...ji,...j->...i", R, np.asarray(points, np.float64)) + T


def distort(ab: np.ndarray, k: np.ndarray, p: np.ndarray) -> np.ndarray:
    """deephar's distortion of normalised image points ``(..., 2)`` (see the module docstring)."""
    a, b = ab[..., 0], ab[..., 1]
    r2 = a * a + b * b
    radial = 1.0 + r2 * (k[..., 0] + r2 * (k[..., 1] + r2 * k[..., 2]))
    scale = radial + p[..., 0] * a + p[..., 1] * b
    return np.stack([a * scale + p[..., 0] * r2, b * scale + p[..., 1] * r2], axis=-1)


def undistort(ab_d: np.ndarray, k: np.ndarray, p: np.ndarray, iterations: int = UNDISTORT_ITERATIONS) -> np.ndarray:
    """Normalised points ``(..., 2)`` whose :func:`distort` is ``ab_d``, by Newton's method from ``ab_d``.

    Converges quadratically for the mild distortion of real lenses; stops early once every step is below 1e-15.
    """
    ab_d = np.asarray(ab_d, np.float64)
    ab = ab_d.copy()
    k0, k1, k2, p0, p1 = k[..., 0], k[..., 1], k[..., 2], p[..., 0], p[..., 1]
    for _ in range(iterations):
        a, b = ab[..., 0], ab[..., 1]
        r2 = a * a + b * b
        radial = 1.0 + r2 * (k0 + r2 * (k1 + r2 * k2))
        scale = radial + p0 * a + p1 * b
        res_a = a * scale + p0 * r2 - ab_d[..., 0]
        res_b = b * scale + p1 * r2 - ab_d[..., 1]
        dradial = 2.0 * (k0 + r2 * (2.0 * k1 + 3.0 * r2 * k2))  # d radial / d(a or b), divided by a or b
        # Jacobian of (a', b') with respect to (a, b).
        j_aa = scale + a * (dradial * a + p0) + 2.0 * p0 * a
        j_ab = a * (dradial * b + p1) + 2.0 * p0 * b
        j_ba = b * (dradial * a + p0) + 2.0 * p1 * a
        j_bb = scale + b * (dradial * b + p1) + 2.0 * p1 * b
        det = j_aa * j_bb - j_ab * j_ba
        step_a = (j_bb * res_a - j_ab * res_b) / det
        step_b = (j_aa * res_b - j_ba * res_a) / det
        ab = np.stack([a - step_a, b - step_b], axis=-1)
        if not (np.any(np.abs(step_a) > 1e-15) or np.any(np.abs(step_b) > 1e-15)):
            break  # every point converged (points with NaN coordinates stay NaN and are ignored here)
    return ab


def undistort_deephar(ab_d: np.ndarray, k: np.ndarray, p: np.ndarray) -> np.ndarray:
    """deephar's approximate inverse (``inverse_project``): one fixed-point step with the distortion evaluated at
    the distorted point."""
    a, b = ab_d[..., 0], ab_d[..., 1]
    r2 = a * a + b * b
    radial = 1.0 + r2 * (k[..., 0] + r2 * (k[..., 1] + r2 * k[..., 2]))
    scale = radial + p[..., 0] * a + p[..., 1] * b
    return np.stack([(a - p[..., 0] * r2) / scale, (b - p[..., 1] * r2) / scale], axis=-1)


def project(points: np.ndarray, R, T, f, c, k, p) -> np.ndarray:
    """uvd ``(..., 3)`` (pixels, camera depth mm) of world points ``(..., 3)`` mm."""
    x = world_to_camera(points, R, T)
    z = x[..., 2]
    uv = distort(x[..., :2] / z[..., None], k, p) * f + c
    return np.concatenate([uv, z[..., None]], axis=-1)


def unproject(uvd: np.ndarray, R, T, f, c, k, p, method: str = "iterative") -> np.ndarray:
    """World points ``(..., 3)`` mm of uvd ``(..., 3)``: the inverse of :func:`project`.

    ``method``: ``"iterative"`` (Newton, exact to ~1e-12 normalised) or ``"deephar"`` (its one-step approximation).
    """
    uvd = np.asarray(uvd, np.float64)
    ab_d = (uvd[..., :2] - c) / f
    if method == "iterative":
        ab = undistort(ab_d, k, p)
    elif method == "deephar":
        ab = undistort_deephar(ab_d, k, p)
    else:
        raise ValueError(f"unknown unproject method {method!r}: 'iterative' or 'deephar'")
    z = uvd[..., 2:3]
    return camera_to_world(np.concatenate([ab * z, z], axis=-1), R, T)


def camera_problems(R, T, f, c, k, p) -> list[str]:
    """What is wrong with these parameters (empty when they form a valid camera)."""
    problems = []
    arrays = {"R": R, "T": T, "f": f, "c": c, "k": k, "p": p}
    shapes = {"R": (3, 3), "T": (3,), "f": (2,), "c": (2,), "k": (3,), "p": (2,)}
    for name, value in arrays.items():
        if np.shape(value) != shapes[name]:
            problems.append(f"{name} has shape {np.shape(value)}, expected {shapes[name]}")
    if problems:
        return problems
    bad = [name for name, value in arrays.items() if not np.all(np.isfinite(value))]
    if bad:
        return [f"non-finite {', '.join(bad)}"]
    deviation = float(np.abs(R @ R.T - np.eye(3)).max())
    if deviation > ORTHONORMAL_TOL:
        problems.append(f"R is not orthonormal (|R·Rᵀ − I| = {deviation:.3g})")
    elif np.linalg.det(R) < 0:
        problems.append("R is a reflection (det < 0)")
    if np.any(f <= 0):
        problems.append(f"non-positive focal length f = {f.tolist()}")
    return problems


@dataclass(frozen=True, eq=False)
class Camera:
    """A calibrated camera, deephar's / Human3.6M's model (module docstring). Units: mm and pixels.

    Attributes:
        R: (3, 3) world → camera rotation.
        T: (3,) camera centre in world coordinates, mm.
        f: (2,) focal lengths, pixels.
        c: (2,) principal point, pixels.
        k: (3,) radial distortion coefficients.
        p: (2,) tangential distortion coefficients.
    """

    R: np.ndarray
    T: np.ndarray
    f: np.ndarray
    c: np.ndarray
    k: np.ndarray
    p: np.ndarray

    def __post_init__(self) -> None:
        sizes = {"R": 9, "T": 3, "f": 2, "c": 2, "k": 3, "p": 2}
        for name, size in sizes.items():
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.size != size:
                raise ValueError(f"camera {name} has {value.size} values, expected {size}")
            object.__setattr__(self, name, value.reshape((3, 3) if name == "R" else (size,)))

    @property
    def params(self) -> tuple[np.ndarray, ...]:
        return self.R, self.T, self.f, self.c, self.k, self.p

    def problems(self) -> list[str]:
        """What makes this camera unusable: non-finite values, R not a rotation, f ≤ 0 (empty when valid)."""
        return camera_problems(*self.params)

    def validate(self, where: str = "camera") -> Camera:
        """Raise ValueError naming ``where`` if the camera is unusable; return it otherwise."""
        if problems := self.problems():
            raise ValueError(f"{where}: bad camera: {'; '.join(problems)}")
        return self

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        return world_to_camera(points, self.R, self.T)

    def camera_to_world(self, points: np.ndarray) -> np.ndarray:
        return camera_to_world(points, self.R, self.T)

    def project(self, world: np.ndarray) -> np.ndarray:
        """uvd ``(..., 3)`` of world points ``(..., 3)`` mm (deephar ``Camera.project``)."""
        return project(world, *self.params)

    def unproject(self, uvd: np.ndarray, method: str = "iterative") -> np.ndarray:
        """World points of uvd ``(..., 3)``; see :func:`unproject`."""
        return unproject(uvd, *self.params, method=method)

    def serialize(self) -> np.ndarray:
        """deephar's 21 floats: R (row-major), T, f, c, p, k."""
        return np.concatenate([self.R.ravel(), self.T, self.f, self.c, self.p, self.k])

    @classmethod
    def deserialize(cls, values: np.ndarray) -> Camera:
        """The camera of :meth:`serialize`'s 21 floats (or deephar's 18 of a camera without ``k``)."""
        values = np.asarray(values, np.float64).ravel()
        if values.size not in (18, SERIALIZED_SIZE):
            raise ValueError(f"a serialized camera has 21 (or 18) values, got {values.size}")
        k = values[18:21] if values.size == SERIALIZED_SIZE else np.zeros(3)
        return cls(values[:9], values[9:12], values[12:14], values[14:16], k, values[16:18])

    @classmethod
    def from_mmpose(cls, params: dict) -> Camera:
        """A camera from an mmpose ``cameras.pkl`` entry: its ``R`` is camera → world (so ours is its
        transpose, see mmpose ``SimpleCamera``) and its ``T`` (camera centre) is in metres."""
        R = np.asarray(params["R"], np.float64).reshape(3, 3)
        return cls(
            R.T,
            np.asarray(params["T"], np.float64).ravel() * 1000.0,
            params["f"],
            params["c"],
            params["k"],
            params["p"],
        )

    def to_mmpose(self) -> dict:
        """``cameras.pkl`` fields of this camera in mmpose's layout (column vectors, ``T`` in metres)."""
        return {
            "R": self.R.T.copy(),
            "T": (self.T * 0.001).reshape(3, 1),
            "c": self.c.reshape(2, 1),
            "f": self.f.reshape(2, 1),
            "k": self.k.reshape(3, 1),
            "p": self.p.reshape(2, 1),
        }


def split_serialized(cameras: np.ndarray) -> tuple[np.ndarray, ...]:
    """Parameter arrays ``(R (..., 3, 3), T, f, c, k, p)`` of serialized cameras ``(..., 21)``."""
    s = np.asarray(cameras, np.float64)
    if s.shape[-1] != SERIALIZED_SIZE:
        raise ValueError(f"serialized cameras have {SERIALIZED_SIZE} values each, got shape {s.shape}")
    R = s[..., :9].reshape(*s.shape[:-1], 3, 3)
    return R, s[..., 9:12], s[..., 12:14], s[..., 14:16], s[..., 18:21], s[..., 16:18]


def project_batch(world: np.ndarray, cameras: np.ndarray) -> np.ndarray:
    """uvd ``(N, J, 3)`` of world points ``(N, J, 3)``, each sample with its own serialized camera ``(N, 21)``."""
    params = [a[:, None] for a in split_serialized(cameras)]
    return project(world, *params)


def root_window(root_uvd: np.ndarray, f: np.ndarray, extent_mm: float = 2250.0) -> tuple[np.ndarray, float]:
    """A square crop window around a person's root (deephar ``bbox.py`` ``get_crop_params``): centre (2,) at the
    root's pixel ``root_uvd[:2]`` and side (pixels) ``extent_mm`` seen at the root's depth ``root_uvd[2]`` with the
    larger focal length ``f`` (2,).

    deephar writes the side ``2.25·max(W·f₀, H·f₁)/d`` with the image size W × H in pixels, which for Human3.6M's
    1000 × 1002 frames is a 2250–2254.5 mm window; here it is ``extent_mm`` whatever the image size. deephar also
    moves the centre down by ``scale`` pixels (1 px at test time); not here.
    """
    u, v, d = (float(x) for x in np.asarray(root_uvd, np.float64).reshape(3))
    if not d > 0:
        raise ValueError(f"root depth must be positive (in front of the camera), got {d}")
    return np.array([u, v]), extent_mm * float(np.max(f)) / d


def unproject_batch(uvd: np.ndarray, cameras: np.ndarray, method: str = "iterative") -> np.ndarray:
    """World points ``(N, J, 3)`` of uvd ``(N, J, 3)``, each sample with its own serialized camera ``(N, 21)``."""
    params = [a[:, None] for a in split_serialized(cameras)]
    return unproject(uvd, *params, method=method)
