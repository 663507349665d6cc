"""Signed-distance primitives (mm) evaluated on broadcastable coordinate arrays.

Negative inside, positive outside. Ellipsoids use a first-order approximation
that is exact on the surface and accurate near it (it only drives the partial-
volume ramp; masks are the sign, which is exact).
"""

from __future__ import annotations

import numpy as np

Array = np.ndarray


def sphere(x: Array, y: Array, z: Array, centre: tuple[float, float, float], radius: float) -> Array:
    """Exact signed distance to a sphere (mm)."""
    cx, cy, cz = centre
    return np.sqrt((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) - radius


def ellipsoid(
    x: Array, y: Array, z: Array, centre: tuple[float, float, float], radii: tuple[float, float, float]
) -> Array:
    """Approximate signed distance to an axis-aligned ellipsoid (mm); sign is exact."""
    cx, cy, cz = centre
    rx, ry, rz = radii
    u, v, w = (x - cx) / rx, (y - cy) / ry, (z - cz) / rz
    k0 = np.sqrt(u**2 + v**2 + w**2)
    k1 = np.sqrt((u / rx) ** 2 + (v / ry) ** 2 + (w / rz) ** 2)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-9)


def elliptic_cylinder(x: Array, y: Array, centre: tuple[float, float], radii: tuple[float, float]) -> Array:
    """Approximate signed distance to an infinite elliptic cylinder along z (mm)."""
    cx, cy = centre
    rx, ry = radii
    u, v = (x - cx) / rx, (y - cy) / ry
    k0 = np.sqrt(u**2 + v**2)
    k1 = np.sqrt((u / rx) ** 2 + (v / ry) ** 2)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-9)


def capsule(
    x: Array,
    y: Array,
    z: Array,
    a: tuple[float, float, float],
    b: tuple[float, float, float],
    radius: float,
) -> Array:
    """Exact signed distance to a capsule (segment a–b swept by a ball), mm."""
    a_ = np.asarray(a, dtype=float)
    ab = np.asarray(b, dtype=float) - a_
    px, py, pz = x - a_[0], y - a_[1], z - a_[2]
    t = np.clip((px * ab[0] + py * ab[1] + pz * ab[2]) / float(ab @ ab), 0.0, 1.0)
    return np.sqrt((px - t * ab[0]) ** 2 + (py - t * ab[1]) ** 2 + (pz - t * ab[2]) ** 2) - radius


def union(*sds: Array) -> Array:
    out = sds[0]
    for s in sds[1:]:
        out = np.minimum(out, s)
    return out


def intersect(*sds: Array) -> Array:
    out = sds[0]
    for s in sds[1:]:
        out = np.maximum(out, s)
    return out


def subtract(a: Array, b: Array) -> Array:
    """``a`` without ``b``."""
    return np.maximum(a, -b)


def smooth_union(a: Array, b: Array, k: float) -> Array:
    """Polynomial smooth minimum with blending width ``k`` (mm)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


def occupancy(sd: Array, width_mm: float) -> Array:
    """Partial-volume fraction of a voxel of size ``width_mm`` whose centre is at ``sd``.

    A linear ramp from 1 (``sd <= -width/2``) to 0 (``sd >= width/2``): the
    exact fraction for a planar surface crossing a voxel along its axis. It is
    0.5 exactly where the voxel-centre mask (``sd < 0``) changes.
    """
    return np.clip(0.5 - sd / width_mm, 0.0, 1.0)


def fibonacci_sphere(n: int) -> np.ndarray:
    """``n`` nearly uniformly spread unit vectors (Fibonacci lattice)."""
    i = np.arange(n) + 0.5
    phi = np.arccos(1.0 - 2.0 * i / n)
    theta = np.pi * (1.0 + np.sqrt(5.0)) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=-1)
