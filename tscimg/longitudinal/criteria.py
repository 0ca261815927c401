"""Response criteria: named, versioned rule sets that cite their source (DESIGN.md section 5).

Examples
--------
>>> criteria_named("tsc").response_reduction_pct
30.0
>>> criteria_named("exist").response_reduction_pct
50.0
>>> criteria_named("recist")
Traceback (most recent call last):
...
tscimg.core.errors.InputError: unknown response criteria 'recist'. Use one of: exist, tsc
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tscimg.core.errors import InputError
from tscimg.core.vocabularies import LesionType

#: What the guideline recommends after 12 months on an mTOR inhibitor without response.
NON_RESPONSE_ACTIONS: tuple[str, ...] = (
    "check adherence to the mTOR inhibitor",
    "verify the dose and the trough level (target 5-15 ng/mL)",
    "confirm the diagnosis",
    "consider other treatment",
)

#: Extra recommendations per lesion type when the lesion did not respond.
NON_RESPONSE_ACTIONS_BY_TYPE: dict[LesionType, tuple[str, ...]] = {
    LesionType.AML: ("for AML, consider radiological intervention (selective embolization)",),
    LesionType.SEGA: ("for SEGA, consider neurosurgical resection",),
}

#: The mTOR inhibitors' target blood trough range, ng/mL (never above the upper limit).
TROUGH_TARGET_NG_ML = (5.0, 15.0)

#: An AML longer than this (its maximum 3D diameter, mm) that grows before treatment meets
#: the guideline's indication for an mTOR inhibitor (growing AML over 3 cm).
AML_TREATMENT_INDICATION_MM = 30.0

#: What the guideline says every assessment of a lesion type must be read with.
GUIDELINE_NOTES_BY_TYPE: dict[LesionType, tuple[str, ...]] = {
    LesionType.RHABDOMYOMA: (
        "cardiac rhabdomyomas regress spontaneously after birth: shrinkage is expected without "
        "treatment and is not by itself a drug effect",
    ),
}


@dataclass(frozen=True)
class ResponseCriteria:
    """A versioned rule set for volumetric response to mTOR inhibitors.

    Parameters
    ----------
    name, version
        Identify the rule set in every report.
    source
        Where the thresholds come from.
    response_reduction_pct
        Response: the sum of target volumes is at least this much below baseline, %.
    progression_increase_from_nadir_pct
        Progression: the sum is at least this much above the nadir, %.
    progression_requires_above_baseline
        Progression also needs the sum to be above baseline (EXIST-2's AML definition).
    non_response_months
        On treatment at least this long without reaching response: non-response.
    regrowth_after_stop_pct
        After treatment stops, regrowth of at least this much above the nadir is flagged, %.
    new_lesion_min_diameter_mm
        A new lesion of the tracked type counts as progression from this longest diameter on.
    """

    name: str
    version: str
    source: str
    response_reduction_pct: float
    progression_increase_from_nadir_pct: float = 25.0
    progression_requires_above_baseline: bool = True
    non_response_months: float = 12.0
    regrowth_after_stop_pct: float = 25.0
    new_lesion_min_diameter_mm: float = 10.0

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for the report's ``criteria`` record."""
        return asdict(self)


TSC = ResponseCriteria(
    name="tsc",
    version="1.0",
    source="International TSC Consensus Conference 2012 surveillance and management "
    "recommendations (Krueger & Northrup, Pediatr Neurol 2013;49:255-265) and the "
    "everolimus clinical-practice literature: a reduction of at least 30% in the sum of "
    "target-lesion volumes is a response; progression and new-lesion rules follow EXIST-1/2",
    response_reduction_pct=30.0,
)

EXIST = ResponseCriteria(
    name="exist",
    version="1.0",
    source="EXIST-1 (Franz et al., Lancet 2013;381:125-132; SEGA) and EXIST-2 (Bissler et al., "
    "Lancet 2013;381:817-824; AML): response is a reduction of at least 50% in the sum of "
    "target-lesion volumes; progression is an increase of at least 25% from nadir to above "
    "baseline, or a new lesion of at least 1 cm",
    response_reduction_pct=50.0,
)

CRITERIA: dict[str, ResponseCriteria] = {c.name: c for c in (TSC, EXIST)}


def criteria_named(name: str) -> ResponseCriteria:
    """The rule set called ``name`` (``tsc`` or ``exist``)."""
    if not isinstance(name, str):
        raise InputError(
            f"response criteria must be a rule set's name or a ResponseCriteria, got {name!r}",
            hint=f"Use one of: {', '.join(sorted(CRITERIA))}",
        )
    try:
        return CRITERIA[name.strip().lower()]
    except KeyError:
        raise InputError(
            f"unknown response criteria {name!r}",
            hint=f"Use one of: {', '.join(sorted(CRITERIA))}",
        ) from None
