"""What each ROI of a SIRT dosimetry is: its role, chosen explicitly or guessed from its name.

The role of an ROI decides what the dosimetry does with it, so a dose must never
depend on a name silently:

* ``liver`` (whole liver, or the perfused liver): with the lesions it is the
  normalisation region of a relative (counts) image, and liver minus lesions is
  the ``normal_liver`` ROI (its mean dose, the tumour-to-normal ratio and the
  normal-liver safety thresholds);
* ``lesion`` (tumours; a label image gives one ROI per label too);
* ``lung`` (lungs): its voxels take the lung density in the LDM, it gives the
  lung mass of the lung-dose formula and the lung dose of the safety check;
* ``body``: activity outside it is reported;
* ``normal_liver``: a normal liver drawn by the user (else it is derived);
* ``other``: dose metrics only.

:func:`resolve_roles` takes the roles that were chosen (the viewer's role
column, the command line's ``--roi-role NAME=ROLE``) and guesses the rest from
the names (:func:`guess_role`); :func:`role_warnings` says what cannot be
computed without a liver or a lung ROI.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum

from workstation.core.errors import InvalidInputError

__all__ = ["RoiRole", "guess_role", "parse_role", "resolve_roles", "role_warnings"]


class RoiRole(StrEnum):
    """Role of an ROI in the SIRT dosimetry (the values are those of ``results.json["roi_roles"]``)."""

    LIVER = "liver"
    LESION = "lesion"
    LUNG = "lung"
    BODY = "body"
    NORMAL_LIVER = "normal_liver"
    OTHER = "other"


#: Words accepted for each role (case-insensitive; spaces, ``-`` and ``_`` alike).
_ROLE_WORDS: dict[RoiRole, tuple[str, ...]] = {
    RoiRole.LIVER: ("liver", "whole liver", "perfused liver"),
    RoiRole.LESION: ("lesion", "lesions", "tumor", "tumors", "tumour", "tumours"),
    RoiRole.LUNG: ("lung", "lungs"),
    RoiRole.BODY: ("body",),
    RoiRole.NORMAL_LIVER: ("normal liver", "normal_liver", "non-tumoral liver"),
    RoiRole.OTHER: ("other", "none"),
}


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[^0-9a-z]+", name.lower()) if w]


def guess_role(name: str) -> RoiRole:
    """The role an ROI name suggests, word by word.

    ``"normal liver"`` -> normal liver; a word starting with ``lesion``,
    ``tumor`` or ``tumour`` -> lesion (so ``"liver lesions"`` is a lesion);
    ``lung…`` -> lung; ``liver…`` -> liver; ``body`` -> body; else other.
    ``"sirt liver"``, ``"Liver_1"`` and ``"liver"`` are all liver.
    """
    words = _words(name)
    if "normal" in words and any(w.startswith("liver") for w in words):
        return RoiRole.NORMAL_LIVER
    if any(w.startswith(("lesion", "tumor", "tumour")) for w in words):
        return RoiRole.LESION
    if any(w.startswith("lung") for w in words):
        return RoiRole.LUNG
    if any(w.startswith("liver") for w in words):
        return RoiRole.LIVER
    if "body" in words:
        return RoiRole.BODY
    return RoiRole.OTHER


def parse_role(text: str | RoiRole) -> RoiRole:
    """A role from its value or a common word for it (``lungs``, ``tumour``, ``normal liver``)."""
    if isinstance(text, RoiRole):
        return text
    key = " ".join(_words(str(text)))
    for role, words in _ROLE_WORDS.items():
        if key == role.value.replace("_", " ") or key in {" ".join(_words(w)) for w in words}:
            return role
    choices = ", ".join(r.value.replace("_", " ") for r in RoiRole)
    raise InvalidInputError(f"Unknown ROI role {text!r}; choose one of: {choices}.")


def resolve_roles(
    names: Iterable[str], chosen: Mapping[str, str | RoiRole] | None = None
) -> tuple[dict[str, RoiRole], dict[str, str]]:
    """The role of every ROI: the chosen one, else the one its name suggests.

    Parameters
    ----------
    names:
        ROI names, in order.
    chosen:
        ROI name -> role (a :class:`RoiRole` or a word :func:`parse_role` accepts).

    Returns
    -------
    roles, sources:
        ``{name: role}`` and ``{name: "chosen" | "from the name"}``.

    Raises
    ------
    InvalidInputError
        A chosen role for a name that is not an ROI, or an unknown role.
    """
    names = list(names)
    chosen = dict(chosen or {})
    unknown = [n for n in chosen if n not in names]
    if unknown:
        raise InvalidInputError(
            f"A role was given for {', '.join(repr(n) for n in unknown)}, which is not an ROI "
            f"(the ROIs are {', '.join(repr(n) for n in names) or 'none'})."
        )
    roles: dict[str, RoiRole] = {}
    sources: dict[str, str] = {}
    for name in names:
        if name in chosen:
            roles[name] = parse_role(chosen[name])
            sources[name] = "chosen"
        else:
            roles[name] = guess_role(name)
            sources[name] = "from the name"
    return roles, sources


def role_warnings(
    roles: Mapping[str, str | RoiRole], counts_image: bool, lung_formula: bool
) -> list[str]:
    """Sentences saying what the dosimetry cannot compute for lack of a liver or a lung ROI.

    Parameters
    ----------
    roles:
        ROI name -> role, as :func:`resolve_roles` returns.
    counts_image:
        True when the activity image is relative (counts), so that the
        normalisation region matters.
    lung_formula:
        True when the administered activity and the lung shunt fraction are known,
        so that the lung-formula dose exists.
    """
    present = {RoiRole(r) for r in roles.values()}
    out: list[str] = []
    if RoiRole.LIVER not in present:
        what = ["no normal-liver dose", "no tumour-to-normal ratio", "no normal-liver safety check",
                "no check of activity outside the liver"]
        if counts_image:
            what.insert(0, "the counts are normalised over the whole field of view instead of liver + lesions")
        out.append(
            "No ROI has the liver role, so there is " + "; ".join(what)
            + ". Give the liver ROI the liver role if one of the ROIs is the liver."
        )
    if RoiRole.LUNG not in present:
        lung = (
            "the lung dose is the formula's with the default lung mass"
            if lung_formula else
            "there is no lung dose (the formula needs the administered activity and the lung shunt fraction)"
        )
        out.append(
            "No ROI has the lung role, so " + lung + "; the LDM gives lung voxels the soft-tissue density "
            "and the density-corrected VSV does not deposit lung activity locally."
        )
    return out
