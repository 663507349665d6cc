"""Registration: rigid, affine and deformable (B-spline), transforms applied to images and masks.

Every transform maps FIXED-space points to MOVING-space points (the ITK
convention, LPS millimetres): resampling the moving image onto the fixed grid
uses it as it is; carrying a point drawn on the moving image into the fixed
space needs ``transform_points(..., inverse=True)``.

The tuning of :func:`register` is one frozen :class:`RegistrationSettings`
(default :data:`DEFAULT_SETTINGS`); change it with ``dataclasses.replace``.
"""

from __future__ import annotations

import warnings
from typing import Any

from workstation.registration._register import RegistrationResult, register
from workstation.registration._settings import DEFAULT_SETTINGS, RegistrationSettings
from workstation.registration._transforms import (
    jacobian_determinant,
    read_landmarks,
    read_transform,
    transform_points,
    transform_volume,
    write_transform,
)

__all__ = [
    "DEFAULT_SETTINGS",
    "RegistrationResult",
    "RegistrationSettings",
    "jacobian_determinant",
    "read_landmarks",
    "read_transform",
    "register",
    "transform_points",
    "transform_volume",
    "write_transform",
]

#: The tuning constants exported before the settings object: name -> settings field.
_DEPRECATED_CONSTANTS = {
    "DEFAULT_GRID_SPACING_MM": "grid_spacing_mm",
    "DEFAULT_SAME_FRAME_BOUND_MM": "same_frame_bound_mm",
    "DEFAULT_WORKING_SPACING_MM": "working_spacing_mm",
    "EXCLUDE_MARGIN_MM": "exclude_margin_mm",
    "RIGID_BLEND_MM": "rigid_blend_mm",
    "RIGID_CORE_MARGIN_MM": "rigid_core_margin_mm",
}


def __getattr__(name: str) -> Any:
    field = _DEPRECATED_CONSTANTS.get(name)
    if field is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"workstation.registration.{name} is deprecated; use DEFAULT_SETTINGS.{field}.",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(DEFAULT_SETTINGS, field)
