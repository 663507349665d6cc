"""Registration: rigid, affine and deformable (B-spline), transforms applied to images and masks.

Every transform maps FIXED-space points to MOVING-space points (the ITK
convention, LPS millimetres): resampling the moving image onto the fixed grid
uses it as it is; carrying a point drawn on the moving image into the fixed
space needs ``transform_points(..., inverse=True)``.
"""

from workstation.registration._register import (
    DEFAULT_GRID_SPACING_MM,
    DEFAULT_SAME_FRAME_BOUND_MM,
    DEFAULT_WORKING_SPACING_MM,
    EXCLUDE_MARGIN_MM,
    RIGID_BLEND_MM,
    RIGID_CORE_MARGIN_MM,
    RegistrationResult,
    register,
)
from workstation.registration._transforms import (
    jacobian_determinant,
    read_landmarks,
    read_transform,
    transform_points,
    transform_volume,
    write_transform,
)

__all__ = [
    "DEFAULT_GRID_SPACING_MM",
    "DEFAULT_SAME_FRAME_BOUND_MM",
    "DEFAULT_WORKING_SPACING_MM",
    "EXCLUDE_MARGIN_MM",
    "RIGID_BLEND_MM",
    "RIGID_CORE_MARGIN_MM",
    "RegistrationResult",
    "jacobian_determinant",
    "read_landmarks",
    "read_transform",
    "register",
    "transform_points",
    "transform_volume",
    "write_transform",
]
