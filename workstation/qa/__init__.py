"""Quality assurance: physics self-checks and NEMA IEC body phantom analysis."""

from workstation.qa.nema import (
    NEMA_RING_RADIUS_MM,
    NEMA_SPHERE_DIAMETERS_MM,
    QA_TOLERANCES,
    PhantomQAResult,
    analyse_nema_phantom,
    sphere_recovery_model,
)

__all__ = [
    "NEMA_RING_RADIUS_MM",
    "NEMA_SPHERE_DIAMETERS_MM",
    "QA_TOLERANCES",
    "PhantomQAResult",
    "analyse_nema_phantom",
    "sphere_recovery_model",
]
