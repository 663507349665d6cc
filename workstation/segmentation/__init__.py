"""Classical segmentation that works offline: no trained network weights.

Every function takes CT (HU) or emission :class:`~workstation.core.volume.Volume` s
and returns a label volume on the input grid (``units == Unit.LABEL`` with
``label_names``). Seeds are LPS points in millimetres. Bad input (a seed outside
the image or in air, an empty result, masks that do not overlap the image)
raises a :class:`~workstation.core.errors.WorkstationError`.

The liver (:func:`segment_liver`) and seeded lesions (:func:`segment_lesions`
with clicks or long axes) run on a working grid of about 2 mm and 1 mm
inside the region's box and come back to the CT grid by interpolating an
inside fraction (:mod:`workstation.segmentation._grid`). :func:`refine_mask`
corrects a mask with inside/outside strokes (for the viewer);
:func:`import_totalsegmentator` and :func:`import_multilabel` bring masks of
AI tools in with their names.
"""

from workstation.segmentation.anatomy import segment_body, segment_lungs
from workstation.segmentation.lesions import (
    segment_ablation_zone,
    segment_lesions,
    segment_uptake,
)
from workstation.segmentation.liver import segment_liver
from workstation.segmentation.mask_ops import (
    difference,
    dilate_mm,
    erode_mm,
    fill_holes,
    import_multilabel,
    import_totalsegmentator,
    intersection,
    largest_component,
    remove_small_components,
    union,
)
from workstation.segmentation.refine import refine_mask

__all__ = [
    "difference",
    "dilate_mm",
    "erode_mm",
    "fill_holes",
    "import_multilabel",
    "import_totalsegmentator",
    "intersection",
    "largest_component",
    "refine_mask",
    "remove_small_components",
    "segment_ablation_zone",
    "segment_body",
    "segment_lesions",
    "segment_liver",
    "segment_lungs",
    "segment_uptake",
    "union",
]
