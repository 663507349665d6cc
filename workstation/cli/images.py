"""Commands on images and masks: ``info``, ``convert``, ``mask``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workstation.cli._common import progress, say, warn

app = typer.Typer()


@app.command()
def info(
    path: Annotated[Path, typer.Argument(help="A DICOM folder or file, or a NIfTI/NRRD/MHA file.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
) -> None:
    """List every series/volume with modality, description, size, spacing, origin, direction, units."""
    from workstation.io.info import describe_path, print_table

    with progress("indexing") as advance:
        entries, skipped = describe_path(path, progress=advance)
    if json_output:
        import json

        typer.echo(json.dumps(entries, indent=2))
    else:
        print_table(path, entries, skipped)



@app.command()
def convert(
    image: Annotated[str, typer.Argument(help="Input IMG: DICOM folder/file, NIfTI, NRRD or MHA.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output .nii.gz, .nii, .nrrd or .mha.")],
    series: Annotated[str | None, typer.Option(help="Series Instance UID (or unique prefix).")] = None,
) -> None:
    """Convert any readable volume to NIfTI/NRRD/MHA, keeping its geometry."""
    from workstation.io import ensure_not_input, read_image, write_image

    ensure_not_input(output, image)
    vol = read_image(image, series=series)
    write_image(vol, output)
    warn(vol.metadata.warnings)
    say(f"wrote {output} ({'x'.join(map(str, vol.shape[::-1]))} voxels, {vol.units.value})")


# Further commands are added below this line by each subpackage's work.


@app.command()
def mask(
    spec: Annotated[
        str,
        typer.Argument(help="MASK: IMG, FILE.seg.nrrd#Segment, SEG.dcm#Label or RTSTRUCT.dcm#ROI."),
    ],
    output: Annotated[
        Path,
        typer.Option("-o", "--output", help="Label image .nii.gz/.nrrd/.mha, or .dcm for a DICOM SEG."),
    ],
    image: Annotated[
        str | None,
        typer.Option(help="IMG whose grid the mask is put on (needed for RTSTRUCT and SEG output)."),
    ] = None,
    series: Annotated[str | None, typer.Option(help="Series of --image (UID or prefix).")] = None,
    rtstruct: Annotated[
        bool, typer.Option("--rtstruct", help="Write a DICOM RT Structure Set (.dcm) on --image instead of a SEG.")
    ] = False,
) -> None:
    """Put a MASK on an image's grid and write it as a label image, a DICOM SEG or an RTSTRUCT."""
    from workstation.core.errors import InvalidInputError
    from workstation.io import ensure_not_input, read_image, read_mask, write_image, write_seg

    ensure_not_input(output, spec, image)
    if rtstruct and not output.name.lower().endswith(".dcm"):
        raise InvalidInputError(f"--rtstruct writes a DICOM file: give an output ending in .dcm, not {output.name}.")
    reference = read_image(image, series=series) if image else None
    labels = read_mask(spec, reference=reference)
    if rtstruct:
        import numpy as np

        from workstation.io.rtstruct_writer import write_rtstruct

        if reference is None:
            raise InvalidInputError(f"Writing the RTSTRUCT {output} needs --image, the DICOM series it belongs to.")
        values = [int(v) for v in np.unique(labels.array) if v != 0]
        rois = {labels.label_names.get(v, f"Label {v}"): labels.copy_with(array=labels.array == v) for v in values}
        write_rtstruct(rois, output, reference)
    elif output.name.lower().endswith(".dcm"):
        if reference is None:
            raise InvalidInputError(
                f"Writing the DICOM SEG {output} needs --image, the DICOM series it belongs to."
            )
        write_seg(labels, output, reference)
    else:
        write_image(labels, output)
    warn([*(reference.metadata.warnings if reference is not None else []), *labels.metadata.warnings])
    names = ", ".join(f"{value}={name}" for value, name in sorted(labels.label_names.items()))
    say(f"wrote {output} ({int((labels.array != 0).sum())} voxels inside; labels {names})")

