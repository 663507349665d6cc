"""Step 4 of the liver (:mod:`.liver`): organs touching it at nearly its CT number.

The candidate is split into blobs by a watershed of the gradient magnitude
(edges) from the deep points of its distance map; from the seed's blob, a
neighbouring blob joins when the CT number changes smoothly across their
interface (no step, no darker plane between them) and its median is close to
the liver's.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from workstation.segmentation._grid import bbox_slices

__all__ = ["split_touching"]

#: Height (mm) of the distance-map maxima that seed separate blobs: organs
#: touching over a contact at least this much narrower than themselves split.
SPLIT_H_MM = 3.0
#: Scale (mm, Gaussian σ) of the gradient magnitude whose watershed draws the blobs.
EDGE_SIGMA_MM = 2.0
#: Blob markers deeper than this (mm) only: thin sheets get no blob of their own.
MARKER_MIN_DEPTH_MM = 4.0
#: Two blobs of the candidate are one organ when, across their interface, the
#: CT number changes by at most :data:`INTERFACE_STEP_HU` (medians within
#: :data:`INTERFACE_BAND_MM` on each side) and the interface is no more than
#: :data:`INTERFACE_VALLEY_HU` darker than its sides (no fat plane or capsule
#: between them). Lobes of one liver may differ by 10 HU from end to end
#: (perfusion, beam hardening) but change smoothly; the spleen, vena cava,
#: heart and muscle meet it with a step of about 10 HU (e.g. Kodama et al.
#: AJR 188:1307, 2007 for unenhanced liver-spleen differences).
INTERFACE_STEP_HU = 6.0
INTERFACE_VALLEY_HU = 6.0
INTERFACE_BAND_MM = 8.0
#: Whatever the interface, a blob whose median differs from the seed's blob by
#: more than BASE + PER_ENHANCEMENT × (liver HU - unenhanced liver HU) is
#: another tissue: the enhancement of a liver varies from lobe to lobe by a
#: fraction of itself (the ~10 HU difference between the lobes of the
#: TotalSegmentator example CT at 92 HU), an unenhanced liver hardly varies
#: (unenhanced liver 55-65 HU: Kodama et al. AJR 188:1307, 2007).
BLOB_DELTA_BASE_HU = 6.0
BLOB_DELTA_PER_ENHANCEMENT = 0.25
UNENHANCED_LIVER_HU = 55.0


def split_touching(
    grown: np.ndarray, smooth: np.ndarray, sigma: float, seed: tuple[int, ...], spacing: np.ndarray
) -> tuple[np.ndarray, float]:
    """Split the candidate into blobs at its edges and keep the blobs of the liver.

    Markers are the h-maxima (:data:`SPLIT_H_MM`) of the distance map deeper
    than :data:`MARKER_MIN_DEPTH_MM`; the blobs are the basins of a watershed
    of the gradient magnitude (σ :data:`EDGE_SIGMA_MM`) from them, so their
    boundaries follow the edges between organs. Starting from the seed's
    blob, a neighbouring blob joins when the interface between them shows no
    step and no valley and its median is close to the liver's (see
    :mod:`.liver`). Returns the kept region and the seed blob's median (HU).
    """
    import SimpleITK as sitk
    from skimage.segmentation import watershed

    depth = ndi.distance_transform_edt(np.pad(grown, 1), sampling=spacing)[1:-1, 1:-1, 1:-1].astype(np.float32)
    interior = depth >= 2.0 * float(spacing.max())
    hmax = sitk.HMaxima(sitk.GetImageFromArray(depth), SPLIT_H_MM)
    peaks = sitk.GetArrayFromImage(
        sitk.RegionalMaxima(hmax, backgroundValue=0, foregroundValue=1, fullyConnected=True)
    ).astype(bool) & (depth >= MARKER_MIN_DEPTH_MM)
    markers, n = ndi.label(peaks, structure=np.ones((3, 3, 3), bool))
    if n <= 1:
        return grown, float(np.median(smooth[interior if interior.any() else grown]))
    edges = sitk.GetArrayFromImage(
        sitk.GradientMagnitudeRecursiveGaussian(_sitk_image(smooth, spacing), float(EDGE_SIGMA_MM))
    )
    # basins of the intensity edges: the blob boundaries follow the edges between
    # organs rather than the narrowest part of their contact
    blobs = watershed(edges, markers, mask=grown)
    own = int(blobs[seed])
    if own == 0:
        return grown, float(np.median(smooth[interior if interior.any() else grown]))
    # robust CT number per blob: the median away from its edge
    labels_all = blobs.ravel()
    values = smooth.ravel()
    medians = np.zeros(n + 1)
    inner_labels = blobs[interior]
    inner_values = smooth[interior]
    order = np.argsort(inner_labels, kind="stable")
    sorted_labels = inner_labels[order]
    sorted_values = inner_values[order]
    bounds = np.searchsorted(sorted_labels, np.arange(n + 2))
    for lab in range(1, n + 1):
        part = sorted_values[bounds[lab] : bounds[lab + 1]]
        if part.size == 0:
            part = values[labels_all == lab]
        medians[lab] = float(np.median(part)) if part.size else np.nan
    # blob adjacency (6-neighbours)
    pairs = set()
    for ax in range(3):
        a = np.moveaxis(blobs, ax, 0)
        lo, hi = a[:-1].ravel(), a[1:].ravel()
        touch = (lo != hi) & (lo > 0) & (hi > 0)
        for u, v in np.unique(np.stack([lo[touch], hi[touch]], axis=1), axis=0):
            pairs.add((int(min(u, v)), int(max(u, v))))
    neighbours: dict[int, set[int]] = {}
    for u, v in pairs:
        neighbours.setdefault(u, set()).add(v)
        neighbours.setdefault(v, set()).add(u)
    reference = medians[own]
    # lobes of an enhanced liver differ more than those of a plain one
    max_delta = BLOB_DELTA_BASE_HU + BLOB_DELTA_PER_ENHANCEMENT * max(reference - UNENHANCED_LIVER_HU, 0.0)
    keep = {own}
    todo = [own]
    blob_boxes = ndi.find_objects(blobs)
    while todo:
        cur = todo.pop()
        for nb in sorted(neighbours.get(cur, ())):
            if nb in keep:
                continue
            # the two blobs' joint box, grown by the band: the interface lies within it
            pad = np.ceil(INTERFACE_BAND_MM / spacing).astype(int) + 2
            pair = tuple(
                slice(max(min(p.start, q.start) - m, 0), min(max(p.stop, q.stop) + m, n))
                for p, q, m, n in zip(blob_boxes[cur - 1], blob_boxes[nb - 1], pad, blobs.shape, strict=True)
            )
            step, valley = _interface_contrast(blobs[pair], smooth[pair], cur, nb, spacing)
            joins = (
                step <= INTERFACE_STEP_HU
                and valley <= INTERFACE_VALLEY_HU
                and abs(medians[nb] - reference) <= max_delta
            )
            if joins:
                keep.add(nb)
                todo.append(nb)
    return np.isin(blobs, sorted(keep)), float(reference)


def _sitk_image(array: np.ndarray, spacing: np.ndarray):  # noqa: ANN202 - SimpleITK image
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(array, dtype=np.float32))
    image.SetSpacing(tuple(float(v) for v in spacing[::-1]))
    return image


def _interface_contrast(
    blobs: np.ndarray, heavy: np.ndarray, u: int, v: int, spacing: np.ndarray
) -> tuple[float, float]:
    """Step and valley (HU) across the interface of two blobs.

    The step is the difference between the medians of the two blobs within
    :data:`INTERFACE_BAND_MM` of each other (beyond the first voxel); the
    valley is how much darker than the darker side the interface voxels are
    (a fat plane or a capsule between two organs).
    """
    mu, mv = blobs == u, blobs == v
    touch = (ndi.binary_dilation(mv, ndi.generate_binary_structure(3, 1)) & mu) | (
        ndi.binary_dilation(mu, ndi.generate_binary_structure(3, 1)) & mv
    )
    box = bbox_slices(touch, np.ceil(INTERFACE_BAND_MM / spacing).astype(int) + 1)
    if box is None:
        return np.inf, np.inf
    su, sv, st = mu[box], mv[box], touch[box]
    du = ndi.distance_transform_edt(~sv, sampling=spacing)
    dv = ndi.distance_transform_edt(~su, sampling=spacing)
    lo = 1.01 * float(spacing.max())
    band_u = su & (du > lo) & (du <= INTERFACE_BAND_MM)
    band_v = sv & (dv > lo) & (dv <= INTERFACE_BAND_MM)
    if band_u.sum() < 5 or band_v.sum() < 5:
        return np.inf, np.inf
    h = heavy[box]
    side_u, side_v = float(np.median(h[band_u])), float(np.median(h[band_v]))
    valley = min(side_u, side_v) - float(np.median(h[st]))
    return abs(side_u - side_v), valley
