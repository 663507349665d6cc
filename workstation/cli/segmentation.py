"""``workstation segment``: body, lungs, liver, lesions, ablation zone, uptake."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from workstation.cli._common import progress, say

app = typer.Typer()


_SEGMENT_KINDS = ("body", "lungs", "liver", "lesions", "ablation-zone", "uptake")


def _parse_seeds(extra: list[str]) -> list[tuple[float, float, float]]:
    """``--seed X Y Z`` groups from the extra arguments of ``segment``."""
    from workstation.core.errors import InvalidInputError

    seeds: list[tuple[float, float, float]] = []
    k = 0
    while k < len(extra):
        if extra[k] != "--seed":
            raise InvalidInputError(f"Unexpected argument {extra[k]!r}; seeds are given as --seed X Y Z (LPS mm).")
        try:
            x, y, z = (float(v) for v in extra[k + 1 : k + 4])
        except ValueError:
            raise InvalidInputError(
                f"--seed needs three numbers X Y Z (LPS mm), got {' '.join(extra[k + 1 : k + 4]) or 'none'}."
            ) from None
        if not all(math.isfinite(v) for v in (x, y, z)):
            raise InvalidInputError(
                f"--seed needs three finite numbers X Y Z (LPS mm), got {' '.join(extra[k + 1 : k + 4])}."
            )
        seeds.append((x, y, z))
        k += 4
    return seeds


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def segment(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="body, lungs, liver, lesions, ablation-zone or uptake.")],
    image: Annotated[str, typer.Option(help="IMG: the CT (or SPECT/PET for uptake).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Label image .nii.gz, .nrrd or .mha.")],
    within: Annotated[
        str | None,
        typer.Option(help="MASK to stay within (liver for lesions and uptake; body for lungs/liver)."),
    ] = None,
    percent: Annotated[float | None, typer.Option(help="uptake: threshold in percent of the maximum.")] = None,
    threshold: Annotated[float | None, typer.Option(help="uptake: absolute threshold in image units.")] = None,
    min_diameter_mm: Annotated[
        float, typer.Option(help="lesions: smallest diameter of an automatic lesion, mm.")
    ] = 10.0,
    series: Annotated[str | None, typer.Option(help="Series of --image (UID or prefix).")] = None,
) -> None:
    """Segment KIND on an image; seeds as --seed X Y Z (LPS mm, repeat for several lesions).

    liver, lesions: automatic without a seed; ablation-zone: needs one seed.
    """
    from workstation.core.errors import InvalidInputError
    from workstation.io import ensure_not_input, read_image, read_mask, write_image
    from workstation.segmentation import (
        segment_ablation_zone,
        segment_body,
        segment_lesions,
        segment_liver,
        segment_lungs,
        segment_uptake,
    )

    if kind not in _SEGMENT_KINDS:
        raise InvalidInputError(f"Unknown KIND {kind!r}; choose one of {', '.join(_SEGMENT_KINDS)}.")
    seeds = _parse_seeds(list(ctx.args))
    if seeds and kind in ("body", "lungs", "uptake"):
        raise InvalidInputError(f"--seed is not used by 'segment {kind}'.")
    if len(seeds) > 1 and kind in ("liver", "ablation-zone"):
        raise InvalidInputError(f"'segment {kind}' takes one --seed, not {len(seeds)}.")
    if kind == "ablation-zone" and not seeds:
        raise InvalidInputError("'segment ablation-zone' needs a seed inside the zone: --seed X Y Z (LPS mm).")
    if kind != "uptake" and (percent is not None or threshold is not None):
        raise InvalidInputError("--percent and --threshold are options of 'segment uptake' only.")
    ensure_not_input(output, image, within)
    with progress(f"segment {kind}") as advance:
        vol = read_image(image, series=series)
        mask = read_mask(within, reference=vol) if within else None
        advance(0.2, f"segment {kind}: computing")
        if kind == "body":
            labels = segment_body(vol)
        elif kind == "lungs":
            labels = segment_lungs(vol, body=mask)
        elif kind == "liver":
            labels = segment_liver(vol, seed_lps=seeds[0] if seeds else None, body=mask)
        elif kind == "lesions":
            liver = mask if mask is not None else segment_liver(vol)
            labels = segment_lesions(vol, liver, seeds_lps=seeds or None, min_diameter_mm=min_diameter_mm)
        elif kind == "ablation-zone":
            labels = segment_ablation_zone(vol, seeds[0], within=mask)
        else:
            labels = segment_uptake(vol, within=mask, percent=percent, absolute=threshold)
        advance(0.9, f"segment {kind}: writing")
        write_image(labels, output)
    ml = vol.voxel_volume_ml
    parts = ", ".join(
        f"{name} {float((labels.array == value).sum()) * ml:.1f} mL"
        for value, name in sorted(labels.label_names.items())
    )
    say(f"wrote {output} ({parts})")

