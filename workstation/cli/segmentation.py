"""``workstation segment``: body, lungs, liver, lesions, ablation zone, uptake; ``segment import``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from workstation.cli._common import progress, say

app = typer.Typer()


_SEGMENT_KINDS = ("body", "lungs", "liver", "lesions", "ablation-zone", "uptake", "import")

Point = tuple[float, float, float]


def _numbers(extra: list[str], k: int, count: int, option: str, what: str) -> list[float]:
    from workstation.core.errors import InvalidInputError

    values = extra[k + 1 : k + 1 + count]
    words = "three" if count == 3 else "six"
    try:
        if len(values) != count:
            raise ValueError
        numbers = [float(v) for v in values]
    except ValueError:
        raise InvalidInputError(
            f"{option} needs {words} numbers {what} (LPS mm), got {' '.join(values) or 'none'}."
        ) from None
    if not all(math.isfinite(v) for v in numbers):
        raise InvalidInputError(f"{option} needs {words} finite numbers {what} (LPS mm), got {' '.join(values)}.")
    return numbers


def _parse_extra(extra: list[str]) -> tuple[list[Point], list[tuple[Point, Point]], list[str]]:
    """``--seed X Y Z`` and ``--seed-line X1 Y1 Z1 X2 Y2 Z2`` groups, and positional arguments."""
    from workstation.core.errors import InvalidInputError

    seeds: list[Point] = []
    lines: list[tuple[Point, Point]] = []
    positional: list[str] = []
    k = 0
    while k < len(extra):
        if extra[k] == "--seed":
            x, y, z = _numbers(extra, k, 3, "--seed", "X Y Z")
            seeds.append((x, y, z))
            k += 4
        elif extra[k] == "--seed-line":
            x1, y1, z1, x2, y2, z2 = _numbers(extra, k, 6, "--seed-line", "X1 Y1 Z1 X2 Y2 Z2")
            lines.append(((x1, y1, z1), (x2, y2, z2)))
            k += 7
        elif extra[k].startswith("-"):
            raise InvalidInputError(
                f"Unexpected option {extra[k]!r}; seeds are --seed X Y Z, lesion axes --seed-line X1 Y1 Z1 X2 Y2 Z2 (LPS mm)."
            )
        else:
            positional.append(extra[k])
            k += 1
    return seeds, lines, positional


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def segment(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="body, lungs, liver, lesions, ablation-zone, uptake or import.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Label image .nii.gz, .nrrd or .mha.")],
    image: Annotated[
        str | None, typer.Option(help="IMG: the CT (or SPECT/PET for uptake); import: the grid to put the labels on.")
    ] = None,
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
    ml: Annotated[
        bool, typer.Option("--ml", help="import: SOURCE is a TotalSegmentator multi-label file (its class map names it).")
    ] = False,
) -> None:
    """Segment KIND on an image; seeds as --seed X Y Z, lesion long axes as --seed-line X1 Y1 Z1 X2 Y2 Z2 (LPS mm).

    liver, lesions: automatic without a seed; lesions: one --seed or --seed-line per lesion
    (repeat); ablation-zone: needs one seed. ``segment import SOURCE [--image IMG] [--ml] -o OUT``:
    a TotalSegmentator output folder or multi-label file as named labels (names in OUT's
    Slicer colour table beside it, so OUT#liver works).
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
    seeds, lines, positional = _parse_extra(list(ctx.args))
    if kind == "import":
        _import(positional, image, series, ml, output, seeds or lines or within or percent or threshold)
        return
    if positional:
        raise InvalidInputError(f"Unexpected argument {positional[0]!r} for 'segment {kind}'.")
    if image is None:
        raise InvalidInputError(f"'segment {kind}' needs --image IMG.")
    if ml:
        raise InvalidInputError("--ml is an option of 'segment import' only.")
    if seeds and kind in ("body", "lungs", "uptake"):
        raise InvalidInputError(f"--seed is not used by 'segment {kind}'.")
    if lines and kind != "lesions":
        raise InvalidInputError(f"--seed-line (a lesion's long axis) is not used by 'segment {kind}'.")
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
            labels = segment_lesions(
                vol, liver, seeds_lps=seeds or None, min_diameter_mm=min_diameter_mm, seed_lines_lps=lines or None
            )
        elif kind == "ablation-zone":
            labels = segment_ablation_zone(vol, seeds[0], within=mask)
        else:
            labels = segment_uptake(vol, within=mask, percent=percent, absolute=threshold)
        advance(0.9, f"segment {kind}: writing")
        write_image(labels, output)
    voxel_ml = vol.voxel_volume_ml
    parts = ", ".join(
        f"{name} {float((labels.array == value).sum()) * voxel_ml:.1f} mL"
        for value, name in sorted(labels.label_names.items())
    )
    say(f"wrote {output} ({parts})")


def _import(
    positional: list[str], image: str | None, series: str | None, ml: bool, output: Path, extra_options: object
) -> None:
    """``segment import SOURCE [--image IMG] [--ml] -o OUT``."""
    from workstation.core.errors import InvalidInputError
    from workstation.io import ensure_not_input, read_image, write_image
    from workstation.io.label_tables import write_colour_table
    from workstation.segmentation import import_multilabel, import_totalsegmentator

    if len(positional) != 1:
        raise InvalidInputError(
            "'segment import' takes one SOURCE: a TotalSegmentator output folder or multi-label file."
        )
    if extra_options:
        raise InvalidInputError("'segment import' takes only SOURCE, --image, --series, --ml and -o.")
    source = Path(positional[0])
    if not source.exists():
        raise InvalidInputError(f"{source}: no such file or folder.")
    ensure_not_input(output, str(source), image)
    table = _colour_table_path(output)
    ensure_not_input(table, str(source), image)
    with progress("segment import") as advance:
        reference = read_image(image, series=series) if image else None
        advance(0.3, "segment import: reading labels")
        if source.is_dir():
            if ml:
                raise InvalidInputError(f"{source} is a folder; --ml is for a multi-label file.")
            labels = import_totalsegmentator(source)
            if reference is not None:
                names = labels.label_names
                labels = labels.resample_to(reference, interpolation="nearest")
                labels.label_names = {v: n for v, n in names.items() if (labels.array == v).any()}
        else:
            labels = import_multilabel(source, image=reference, totalsegmentator=ml)
        advance(0.8, "segment import: writing")
        write_image(labels, output)
        write_colour_table(table, labels.label_names)
    for warning in labels.metadata.warnings:
        say(f"warning: {warning}")
    ml_voxel = labels.voxel_volume_ml
    counts = {v: int((labels.array == v).sum()) for v in labels.label_names}
    parts = ", ".join(f"{labels.label_names[v]} {counts[v] * ml_voxel:.1f} mL" for v in sorted(counts)[:12])
    more = f", … ({len(counts)} labels)" if len(counts) > 12 else ""
    say(f"wrote {output} and {table.name} ({parts}{more})")


def _colour_table_path(output: Path) -> Path:
    """``OUT.ctbl`` beside the label image: the Slicer colour table the MASK syntax reads names from."""
    name = output.name
    for ending in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"):
        if name.lower().endswith(ending):
            return output.with_name(name[: -len(ending)] + ".ctbl")
    return output.with_name(name + ".ctbl")
