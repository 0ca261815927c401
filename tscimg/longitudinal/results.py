"""Results of longitudinal tracking: per lesion and visit, per patient, for the cohort.

These are plain frozen records that the batch runner fills and the report writers read;
:meth:`CohortResult.to_json` is report.json (schema ``tscimg.report/1``) and
:meth:`CohortResult.to_records` its flat form (report.csv, pandas).

Examples
--------
>>> import datetime as dt
>>> from tscimg.longitudinal.criteria import TSC
>>> from tscimg.measure import LesionRecord
>>> visits = [
...     LesionVisitResult("L1", LesionType.AML, dt.date(2024, 1, 10), "v1", LesionOrigin.PROMPT,
...                       measurement=LesionRecord.of_figures(10.0, 0.2, 30.0)),
...     LesionVisitResult("L1", LesionType.AML, dt.date(2024, 8, 1), "v2", LesionOrigin.CARRIED,
...                       measurement=LesionRecord.of_figures(6.5, 0.2, 30.0))]
>>> patient = assess_patient("P1", visits, TSC, treatment_start=dt.date(2024, 1, 15))
>>> patient.assessments[0].status.value, patient.assessments[0].best_change_pct
('response', -35.0)
"""

from __future__ import annotations

import datetime
import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from tscimg.core.disclaimer import RESEARCH_USE_DISCLAIMER
from tscimg.core.treatment import TreatmentHistory
from tscimg.core.vocabularies import LesionType
from tscimg.longitudinal.criteria import (
    AML_TREATMENT_INDICATION_MM,
    TROUGH_TARGET_NG_ML,
    ResponseCriteria,
    criteria_named,
)
from tscimg.longitudinal.percent import shown_pct
from tscimg.longitudinal.response import (
    Milestone,
    ResponseAssessment,
    TimepointAssessment,
    VolumeAtVisit,
    assess_response,
    baseline_date,
)
from tscimg.longitudinal.views import LesionView
from tscimg.measure.record import LesionRecord

REPORT_SCHEMA = "tscimg.report/1"
#: The report files of a run, ``report.<kind>`` in its output folder, in the order they are
#: written (tscimg.report writes them; tscimg.batch removes an earlier run's).
REPORT_KINDS = ("json", "csv", "html", "pdf")

#: A manifest date further than this from the scan's own acquisition date is a warning.
DATE_TOLERANCE_DAYS = 7


class LesionOrigin(StrEnum):
    """Where a visit's lesion outline came from."""

    PROMPT = "prompt"  # segmented from this visit's own prompts
    MASK = "mask"  # an existing mask given in the manifest
    CARRIED = "carried"  # carried by registration from a trusted earlier visit (the reference)


@dataclass(frozen=True)
class ScanFacts:
    """What the report needs to know about a visit's scan (for change warnings, provenance)."""

    image: str
    sha256: str
    modality: str | None
    manufacturer: str | None
    slice_thickness_mm: float | None
    spacing_mm: tuple[float, ...]
    series_uid: str | None = None
    frame: int | None = None
    acquisition_date: str | None = None  # the scan's own date (DICOM), YYYY-MM-DD
    reconstruction_kernel: str | None = None  # CT (DICOM ConvolutionKernel)
    field_strength_t: float | None = None  # MR (DICOM MagneticFieldStrength)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "image": self.image,
            "sha256": self.sha256,
            "modality": self.modality,
            "manufacturer": self.manufacturer,
            "slice_thickness_mm": self.slice_thickness_mm,
            "spacing_mm": list(self.spacing_mm),
            "series_uid": self.series_uid,
            "frame": self.frame,
            "acquisition_date": self.acquisition_date,
            "reconstruction_kernel": self.reconstruction_kernel,
            "field_strength_t": self.field_strength_t,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScanFacts:
        """Inverse of :meth:`to_dict`."""
        return cls(
            d["image"],
            d["sha256"],
            d["modality"],
            d["manufacturer"],
            d["slice_thickness_mm"],
            tuple(d["spacing_mm"]),
            d.get("series_uid"),
            d.get("frame"),
            d.get("acquisition_date"),
            d.get("reconstruction_kernel"),
            d.get("field_strength_t"),
        )


#: The figures of a lesion record, all ``null`` in report.json for a lesion not measured.
NOT_MEASURED_KEYS = (
    "volume_ml", "volume_uncertainty_ml", "volume_method", "voxel_count",
    "axial_longest_diameter_mm", "max_3d_diameter_mm", "centroid_lps",
)  # fmt: skip


@dataclass(frozen=True)
class LesionVisitResult:
    """One lesion at one visit: its measurement and how its outline was obtained.

    ``measurement`` is the lesion's :class:`~tscimg.measure.LesionRecord` (volume, its
    uncertainty and method, lengths, and the 3D or planar detail), or ``None`` when the lesion
    could not be measured at this visit (a carried follow-up whose registration failed or whose
    lesion maps outside the scan; ``review`` says why and what to do). ``review`` lists the
    reasons the measurement must be checked by a reader before it counts (the trust gate of
    DESIGN.md section 5; empty: trusted). ``registration_volume_ml`` is the registration's own
    estimate of the volume (the reference visit's volume times the Jacobian determinant
    integrated over its lesion), when a trusted registration to an earlier visit exists.
    """

    lesion_id: str
    lesion_type: LesionType
    date: datetime.date
    image: str
    origin: LesionOrigin
    measurement: LesionRecord | None
    mask: str | None = None
    method: str | None = None
    registration: Mapping[str, Any] | None = None
    scan: ScanFacts | None = None
    warnings: tuple[str, ...] = ()
    view: LesionView | None = field(default=None, compare=False, repr=False)
    dicom_seg: str | None = None
    dicom_sr: str | None = None
    review: tuple[str, ...] = ()
    registration_volume_ml: float | None = None

    @property
    def volume_ml(self) -> float | None:
        """The lesion's volume, mL, obtained as ``measurement.volume_method`` says (``None``:
        not measured)."""
        return None if self.measurement is None else self.measurement.volume_ml

    def to_dict(self, include_view: bool = False) -> dict[str, Any]:
        """JSON-ready values (the ``lesions`` entries of report.json; the view only on request)."""
        extra = {"view": self.view.to_dict()} if include_view and self.view is not None else {}
        return {
            "lesion_id": self.lesion_id,
            "lesion_type": self.lesion_type.value,
            "date": self.date.isoformat(),
            "image": self.image,
            "origin": self.origin.value,
            **(
                dict.fromkeys(NOT_MEASURED_KEYS)
                if self.measurement is None
                else self.measurement.to_dict()
            ),
            "mask": self.mask,
            "method": self.method,
            "registration": None if self.registration is None else dict(self.registration),
            "scan": None if self.scan is None else self.scan.to_dict(),
            "dicom_seg": self.dicom_seg,
            "dicom_sr": self.dicom_sr,
            "warnings": list(self.warnings),
            "review": list(self.review),
            "registration_volume_ml": None
            if self.registration_volume_ml is None
            else round(self.registration_volume_ml, 6),
            **extra,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LesionVisitResult:
        """Inverse of :meth:`to_dict` (used to resume a batch)."""
        fixed = {
            "lesion_id", "lesion_type", "date", "image", "origin", "mask", "method",
            "registration", "scan", "warnings", "view", "dicom_seg", "dicom_sr", "review",
            "registration_volume_ml",
        }  # fmt: skip
        return cls(
            lesion_id=d["lesion_id"],
            lesion_type=LesionType(d["lesion_type"]),
            date=datetime.date.fromisoformat(d["date"]),
            image=d["image"],
            origin=LesionOrigin(d["origin"]),
            measurement=None
            if d.get("volume_ml") is None
            else LesionRecord.from_dict({k: v for k, v in d.items() if k not in fixed}),
            mask=d["mask"],
            method=d["method"],
            registration=d["registration"],
            scan=None if d["scan"] is None else ScanFacts.from_dict(d["scan"]),
            warnings=tuple(d["warnings"]),
            view=None if d.get("view") is None else LesionView.from_dict(d["view"]),
            dicom_seg=d.get("dicom_seg"),
            dicom_sr=d.get("dicom_sr"),
            review=tuple(d.get("review", ())),
            registration_volume_ml=d.get("registration_volume_ml"),
        )


@dataclass(frozen=True)
class PatientResult:
    """A patient's lesions over time and the response assessment per lesion type."""

    patient_id: str
    treatment_start: datetime.date | None
    treatment_stop: datetime.date | None
    lesions: tuple[LesionVisitResult, ...]
    assessments: tuple[ResponseAssessment, ...]
    new_lesions: Mapping[str, datetime.date] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    treatment: TreatmentHistory | None = None

    def target_lesion_ids(self, assessment: ResponseAssessment) -> frozenset[str]:
        """The target lesions of one of the patient's assessments: those measured at its
        baseline visit. A lesion of its type that is neither a target nor in ``new_lesions``
        was seen before the baseline but not measured at it, and is not assessed (the
        patient's warnings say so)."""
        return frozenset(
            lv.lesion_id
            for lv in self.lesions
            if lv.lesion_type is assessment.lesion_type and lv.date == assessment.baseline_date
        )

    def left_out_reasons(self, kind: LesionType, date: datetime.date) -> list[str]:
        """The patient's warnings saying why the visit of ``date`` was left out of the
        assessment of ``kind`` (empty when it was not)."""
        prefix = _visit_prefix(kind, date)
        return [w for w in self.warnings if w.startswith(prefix)]

    def not_assessed_reasons(self, kind: LesionType, lesion_id: str) -> list[str]:
        """The patient's warnings saying why a lesion is neither a target nor a new lesion."""
        prefix = _lesion_prefix(kind, lesion_id)
        return [w for w in self.warnings if w.startswith(prefix)]

    def to_dict(self) -> dict[str, Any]:
        """The patient's entry in report.json.

        Each assessment lists its ``timepoints`` (the visits assessed, with their lesions:
        ``target_lesions``, ``new_lesions`` and ``lesions_not_assessed``, those seen before the
        baseline but not measured at it) and its ``left_out_visits``: the visits whose
        lesions were measured but left out of the assessment (a target lesion missing
        there), each with its lesions and the ``reasons``.
        """
        out_assessments = []
        for a in self.assessments:
            record = a.to_dict()
            targets = self.target_lesion_ids(a)
            of_kind = [lv for lv in self.lesions if lv.lesion_type is a.lesion_type]
            timepoints = []
            for tp in a.timepoints:
                t = tp.to_dict()
                at_visit = [lv for lv in of_kind if lv.date == tp.date]
                t["lesions"] = {lv.lesion_id: lv.to_dict() for lv in at_visit}
                t["target_lesions"] = sorted(
                    lv.lesion_id for lv in at_visit if lv.lesion_id in targets
                )
                t["new_lesions"] = sorted(
                    lv.lesion_id for lv in at_visit if lv.lesion_id in self.new_lesions
                )
                t["lesions_not_assessed"] = sorted(
                    lv.lesion_id
                    for lv in at_visit
                    if lv.lesion_id not in targets and lv.lesion_id not in self.new_lesions
                )
                timepoints.append(t)
            record["timepoints"] = timepoints
            assessed = {tp.date for tp in a.timepoints}
            record["left_out_visits"] = [
                {
                    "date": d.isoformat(),
                    "lesions": {lv.lesion_id: lv.to_dict() for lv in of_kind if lv.date == d},
                    "reasons": [
                        w[len(_visit_prefix(a.lesion_type, d)) :]
                        for w in self.left_out_reasons(a.lesion_type, d)
                    ],
                }
                for d in sorted({lv.date for lv in of_kind} - assessed)
            ]
            out_assessments.append(record)
        return {
            "patient_id": self.patient_id,
            "treatment_start": None
            if self.treatment_start is None
            else self.treatment_start.isoformat(),
            "treatment_stop": None
            if self.treatment_stop is None
            else self.treatment_stop.isoformat(),
            "assessments": out_assessments,
            "warnings": list(self.warnings),
            "treatment": None if self.treatment is None else treatment_record(self.treatment),
        }


@dataclass(frozen=True)
class CaseError:
    """A patient that could not be completed (the others were)."""

    patient_id: str
    date: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {"patient_id": self.patient_id, "date": self.date, "message": self.message}


@dataclass(frozen=True)
class CohortResult:
    """Everything a ``track`` run produced: patients, errors and provenance.

    ``disclaimer`` is the research-use statement every report carries (report.json's
    ``disclaimer``, report.csv's last column, the page's top and bottom).
    """

    criteria: ResponseCriteria
    patients: tuple[PatientResult, ...]
    errors: tuple[CaseError, ...] = ()
    software: Mapping[str, str] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    disclaimer: str = RESEARCH_USE_DISCLAIMER

    def to_dict(self) -> dict[str, Any]:
        """report.json as a dictionary (schema ``tscimg.report/1``)."""
        return {
            "schema": REPORT_SCHEMA,
            "disclaimer": self.disclaimer,
            "criteria": self.criteria.to_dict(),
            "software": dict(self.software),
            "provenance": dict(self.provenance),
            "patients": [p.to_dict() for p in self.patients],
            "errors": [e.to_dict() for e in self.errors],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """report.json as text."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def to_records(self) -> list[dict[str, Any]]:
        """One flat record per patient x visit x lesion, with the visit's sums and flags.

        ``status`` is the status as of that visit, ``latest_status`` the assessment's status at
        its latest visit, with ``latest_status_note`` (the uncertainty qualifier of a response
        or non-response, report.json's ``status_note``) and ``latest_review`` (why it is
        ``not_evaluable``: the assessment's ``review``), ``latest_recommendations`` (the
        assessment's recommendations at its latest visit) and ``assessment_warnings`` (the
        assessment's and the patient's warnings, which the page shows above the visits).
        ``review`` is the lesion's own review
        reasons, ``visit_review`` the visit's (report.json's timepoint ``review``: every lesion's
        reasons prefixed with its id, and the visit's own, such as two change estimates on
        either side of the response threshold); several reasons are joined by `` | ``. A
        lesion measured at a visit left out of the assessment (a target lesion missing there)
        keeps its record with its own figures: the visit's columns (months, sum, changes,
        flags, ``status``) are ``None`` and ``warnings`` ends with the
        patient's warning saying why the visit was left out. A patient that failed is one
        record with its ``error`` (and the visit date it failed at). Every record ends with
        the research-use ``disclaimer``. These are the rows of
        report.csv (``pandas.DataFrame(result.to_records())`` works).
        """
        rows: list[dict[str, Any]] = []
        for patient in self.patients:
            for a in patient.assessments:
                by_date = {tp.date: tp for tp in a.timepoints}
                targets = patient.target_lesion_ids(a)
                for lv in sorted(
                    (lv for lv in patient.lesions if lv.lesion_type is a.lesion_type),
                    key=lambda lv: (lv.date, lv.lesion_id),
                ):
                    tp = by_date.get(lv.date)
                    warnings = list(lv.warnings)
                    if tp is None:  # a visit left out of the assessment: the warning says why
                        warnings += patient.left_out_reasons(a.lesion_type, lv.date)
                    if lv.lesion_id not in targets and lv.lesion_id not in patient.new_lesions:
                        warnings += patient.not_assessed_reasons(a.lesion_type, lv.lesion_id)
                    visit = _visit_columns(tp)
                    visit_review = None if tp is None else " | ".join(tp.review)
                    rows.append(
                        {
                            "patient_id": patient.patient_id,
                            "lesion_type": a.lesion_type.value,
                            "date": lv.date.isoformat(),
                            "months_on_treatment": visit.pop("months_on_treatment"),
                            "lesion_id": lv.lesion_id,
                            "target": lv.lesion_id in targets,
                            "origin": lv.origin.value,
                            **_record_columns(lv.measurement),
                            **visit,
                            "latest_status": a.status.value,
                            "latest_status_note": a.status_note,
                            "latest_review": " | ".join(a.review),
                            "latest_recommendations": " | ".join(a.recommendations),
                            "assessment_warnings": " | ".join(
                                dict.fromkeys((*a.warnings, *_warnings_for(patient, a)))
                            ),
                            "criteria": f"{self.criteria.name} {self.criteria.version}",
                            "registration_ncc": None
                            if lv.registration is None
                            else lv.registration.get("quality_ncc"),
                            "mask": lv.mask,
                            "review": " | ".join(lv.review),
                            "visit_review": visit_review,
                            "warnings": " | ".join(warnings),
                            "error": None,
                            "disclaimer": self.disclaimer,
                        }
                    )
        for e in self.errors:  # a failed patient is a row too, with its error
            rows.append(
                {
                    "patient_id": e.patient_id,
                    "date": e.date,
                    "error": e.message,
                    "disclaimer": self.disclaimer,
                }
            )
        return rows


def warning_lesion_type(warning: str, kinds: Iterable[str]) -> str | None:
    """The lesion type among ``kinds`` that a patient's warning is about (its warnings about
    one type start with the type's name, as ``"aml 2024-07-01: ..."``); ``None`` for a warning
    about the patient as a whole.

    >>> warning_lesion_type("aml 2024-07-01: L2 not measured", ["aml", "sega"])
    'aml'
    >>> warning_lesion_type("treatment stopped twice", ["aml", "sega"]) is None
    True
    """
    return next((k for k in kinds if warning.startswith(f"{k} ")), None)


def _warnings_for(patient: PatientResult, assessment: ResponseAssessment) -> list[str]:
    """The patient's warnings that concern ``assessment``: those about its lesion type and
    those about no one type, as the page shows them (another type's warning in this type's
    rows said its visit was left out where it was not)."""
    kinds = [a.lesion_type.value for a in patient.assessments]
    concerned = (assessment.lesion_type.value, None)
    return [w for w in patient.warnings if warning_lesion_type(w, kinds) in concerned]


#: The columns of a record that describe the visit (the assessment's timepoint), not the lesion.
_VISIT_COLUMNS = (
    "months_on_treatment", "total_volume_ml", "is_baseline", "change_from_baseline_pct",
    "change_from_nadir_pct", "change_registration_pct", "change_within_uncertainty",
    "response_met", "progression_met", "progression_reasons", "regrowth_after_stop",
    "after_treatment_stop", "treatment_paused", "status",
)  # fmt: skip


def _visit_columns(tp: TimepointAssessment | None) -> dict[str, Any]:
    """A record's visit columns (all ``None`` for a visit left out of the assessment)."""
    if tp is None:
        return dict.fromkeys(_VISIT_COLUMNS)
    return {
        "months_on_treatment": _round(tp.months_on_treatment, 2),
        "total_volume_ml": _round(tp.total_volume_ml, 4),
        "is_baseline": tp.is_baseline,
        # changes cut towards zero, as report.json has them (tscimg.longitudinal.percent)
        "change_from_baseline_pct": _shown(tp.change_from_baseline_pct),
        "change_from_nadir_pct": _shown(tp.change_from_nadir_pct),
        "change_registration_pct": _shown(tp.change_registration_pct),
        "change_within_uncertainty": tp.change_within_uncertainty,
        "response_met": tp.response_met,
        "progression_met": tp.progression_met,
        "progression_reasons": " | ".join(tp.progression_reasons),
        "regrowth_after_stop": tp.regrowth_after_stop,
        "after_treatment_stop": tp.after_treatment_stop,
        "treatment_paused": tp.paused,
        "status": tp.status.value,
    }


def _round(value: Any, digits: int) -> Any:
    # + 0.0: a rounded -0.0 is written 0.0
    return None if value is None else round(float(value), digits) + 0.0


def _shown(value: float | None) -> float | None:
    return None if value is None else shown_pct(value, 2)


def trough_flag(value_ng_ml: float) -> str:
    """``"below"``, ``"in range"`` or ``"above"`` the target trough range (5-15 ng/mL)."""
    low, high = TROUGH_TARGET_NG_ML
    return "below" if value_ng_ml < low else "above" if value_ng_ml > high else "in range"


def treatment_record(history: TreatmentHistory) -> dict[str, Any]:
    """report.json's ``treatment``: the history, each trough level flagged against the range."""
    record = history.to_dict()
    for entry in record["troughs_ng_ml"]:
        entry["flag"] = trough_flag(entry["trough_ng_ml"])
    low, high = TROUGH_TARGET_NG_ML
    record["trough_target_ng_ml"] = [low, high]
    return record


def _record_columns(m: LesionRecord | None) -> dict[str, Any]:
    """report.csv's lesion figures (empty for a lesion not measured)."""
    if m is None:
        return dict.fromkeys(
            (
                "volume_ml", "volume_method", "area_mm2", "volume_uncertainty_ml",
                "mesh_volume_ml", "max_3d_diameter_mm", "axial_longest_diameter_mm",
            )
        )  # fmt: skip
    return {
        "volume_ml": _round(m.volume_ml, 4),
        "volume_method": m.volume_method.value,
        "area_mm2": None if m.planar is None else _round(m.planar.area_mm2, 2),
        "volume_uncertainty_ml": _round(m.volume_uncertainty_ml, 4),
        "mesh_volume_ml": None if m.volumetric is None else _round(m.volumetric.mesh_volume_ml, 4),
        "max_3d_diameter_mm": _round(m.max_3d_diameter_mm, 2),
        "axial_longest_diameter_mm": _round(m.axial_longest_diameter_mm, 2),
    }


def _input_warnings(visits: Sequence[LesionVisitResult]) -> list[str]:
    """The same image file at two visits; a manifest date far from the scan's own date."""
    out: list[str] = []
    dates_by_hash: dict[str, dict[datetime.date, str]] = {}
    checked: set[tuple[datetime.date, str]] = set()
    for lv in sorted(visits, key=lambda lv: lv.date):
        if lv.scan is None:
            continue
        dates_by_hash.setdefault(lv.scan.sha256, {}).setdefault(lv.date, lv.scan.image)
        acquired = lv.scan.acquisition_date
        if acquired is None or (lv.date, lv.scan.image) in checked:
            continue
        checked.add((lv.date, lv.scan.image))
        days = abs((datetime.date.fromisoformat(acquired) - lv.date).days)
        if days > DATE_TOLERANCE_DAYS:
            out.append(
                f"{lv.date.isoformat()}: the manifest's visit date is {days} days from the "
                f"scan's own acquisition date ({acquired}, {lv.scan.image}): check the date in "
                "the manifest (the baseline, the months on treatment and the status follow it)"
            )
    for sha, at in dates_by_hash.items():
        if len(at) > 1:
            listed = ", ".join(f"{d.isoformat()} ({image})" for d, image in sorted(at.items()))
            out.append(
                f"the same image file (SHA-256 {sha[:12]}...) is given at {len(at)} visits: "
                f"{listed}; a follow-up cannot be the same scan: check the manifest's image paths"
            )
    return out


def _trough_warnings(history: TreatmentHistory | None) -> list[str]:
    if history is None:
        return []
    low, high = TROUGH_TARGET_NG_ML
    return [
        f"trough level {v:g} ng/mL on {d.isoformat()} is above {high:g} ng/mL, the top of the "
        f"target range ({low:g}-{high:g} ng/mL)"
        for d, v in history.troughs_ng_ml
        if v > high
    ]


def _aml_indication(
    visits: Sequence[LesionVisitResult], treatment_start: datetime.date | None
) -> tuple[Milestone, tuple[str, ...]]:
    """Before treatment: an AML longer than 30 mm that grew between two visits (beyond the two
    volumes' combined uncertainty) meets the guideline's indication for an mTOR inhibitor."""
    findings: list[tuple[datetime.date, str]] = []
    by_lesion: dict[str, list[LesionVisitResult]] = {}
    for lv in sorted(visits, key=lambda lv: lv.date):
        if treatment_start is None or lv.date <= treatment_start:
            by_lesion.setdefault(lv.lesion_id, []).append(lv)
    for lid, seen in sorted(by_lesion.items()):
        for before, after in itertools.pairwise(seen):
            a, b = before.measurement, after.measurement
            if before.review or after.review or a is None or b is None or a.volume_ml <= 0:
                continue
            length = b.length_mm
            u = math.hypot(a.volume_uncertainty_ml, b.volume_uncertainty_ml)
            growth = b.volume_ml - a.volume_ml
            if growth > u and length > AML_TREATMENT_INDICATION_MM:
                when = "no treatment recorded" if treatment_start is None else "before treatment"
                findings.append(
                    (
                        after.date,
                        f"meets the guideline's treatment indication (a growing AML longer than "
                        f"{AML_TREATMENT_INDICATION_MM / 10:g} cm): {lid} grew from "
                        f"{a.volume_ml:.2f} to {b.volume_ml:.2f} mL "
                        f"({100 * growth / a.volume_ml:+.1f}%, more than the combined "
                        f"uncertainty of {u:.2f} mL) between {before.date.isoformat()} and "
                        f"{after.date.isoformat()} ({when}) and is {length:.1f} mm long; an mTOR "
                        "inhibitor is the recommended first-line treatment",
                    )
                )
    if not findings:
        return Milestone(), ()
    return Milestone(True, min(d for d, _ in findings)), tuple(text for _, text in findings)


def _acquisition_warnings(visits: Sequence[LesionVisitResult]) -> list[str]:
    """Scanner, modality or slice-thickness changes between consecutive visits, lesion by
    lesion (two lesions of one patient may be measured on different scans of one date); a
    change that only some of the lesions measured at both visits see names them."""
    by_lesion: dict[str, dict[datetime.date, tuple[ScanFacts, bool]]] = {}
    for lv in visits:
        if lv.scan is not None:
            planar = lv.measurement is not None and lv.measurement.planar is not None
            by_lesion.setdefault(lv.lesion_id, {}).setdefault(lv.date, (lv.scan, planar))
    changes: dict[tuple[datetime.date, datetime.date, str], list[str]] = {}
    for lesion_id in sorted(by_lesion):
        scans = by_lesion[lesion_id]
        for before, after in itertools.pairwise(sorted(scans)):
            (a, planar_a), (b, planar_b) = scans[before], scans[after]
            # a 2D frame's third spacing is nominal (1 mm), not a slice thickness
            for text in _scan_changes(a, b, thickness=not (planar_a or planar_b)):
                changes.setdefault((before, after, text), []).append(lesion_id)
    out: list[str] = []
    for (before, after, text), lesions in sorted(changes.items()):
        alike = [lid for lid, scans in by_lesion.items() if before in scans and after in scans]
        which = "" if len(lesions) == len(alike) else f" ({', '.join(lesions)})"
        out.append(f"{before.isoformat()} -> {after.isoformat()}: {text}{which}")
    return out


def _scan_changes(a: ScanFacts, b: ScanFacts, thickness: bool = True) -> list[str]:
    """What changed between two visits' scans that changes what a volume means (the slice
    thickness only where ``thickness``)."""
    out: list[str] = []
    if a.modality != b.modality:
        out.append(f"modality changed ({a.modality} -> {b.modality})")
    if a.manufacturer != b.manufacturer:
        out.append(f"scanner changed ({a.manufacturer} -> {b.manufacturer})")
    kernels = (a.reconstruction_kernel, b.reconstruction_kernel)
    if None not in kernels and kernels[0] != kernels[1]:
        out.append(
            f"reconstruction kernel changed ({kernels[0]} -> {kernels[1]}); a sharper or "
            "smoother kernel moves the lesion's border, and the volume with it"
        )
    fields = (a.field_strength_t, b.field_strength_t)
    if fields[0] is not None and fields[1] is not None and abs(fields[0] - fields[1]) > 0.1:
        out.append(
            f"MR field strength changed ({fields[0]:g} -> {fields[1]:g} T); contrast and "
            "distortion differ between the two volumes"
        )
    ta = a.slice_thickness_mm or (a.spacing_mm[2] if len(a.spacing_mm) > 2 else None)
    tb = b.slice_thickness_mm or (b.spacing_mm[2] if len(b.spacing_mm) > 2 else None)
    if thickness and ta is not None and tb is not None and abs(ta - tb) > 0.05 * max(ta, tb):
        out.append(
            f"slice thickness changed ({ta:g} -> {tb:g} mm); partial-volume effects differ "
            "between the two volumes"
        )
    return out


def _method_warnings(visits: Sequence[LesionVisitResult]) -> list[str]:
    """Volumes obtained by different methods compared over time: never silently."""
    methods: dict[str, set[datetime.date]] = {}
    for lv in visits:
        if lv.measurement is not None:
            methods.setdefault(lv.measurement.volume_method.value, set()).add(lv.date)
    if len(methods) < 2:
        return []
    listed = "; ".join(
        f"{m} on {', '.join(sorted(d.isoformat() for d in dates))}"
        for m, dates in sorted(methods.items())
    )
    return [
        f"volumes come from different methods ({listed}): changes across methods mix "
        "measurement and shape assumptions; compare visits measured alike"
    ]


def _lesion_prefix(kind: LesionType, lesion_id: str) -> str:
    """How a patient warning about one lesion starts (to_records finds the reason a lesion is
    not assessed by it)."""
    return f"{kind.value} {lesion_id}: "


def _visit_prefix(kind: LesionType, date: datetime.date) -> str:
    """How a patient warning about one visit of one lesion type starts (to_records finds the
    reason a visit was left out of the assessment by it)."""
    return f"{kind.value} {date.isoformat()}: "


@dataclass(frozen=True)
class _KeptVisit:
    """A visit of one lesion type that is assessed: its sum of target lesions is complete, or
    it is the latest visit (the one the status describes) and ``missing`` names the target
    lesions not measured there, which makes it not evaluable."""

    date: datetime.date
    here: Mapping[str, LesionVisitResult]  # every lesion of the type measured at the visit
    present: tuple[str, ...]  # its target lesions
    missing: tuple[str, ...] = ()  # target lesions not measured at it (the latest visit only)


def _visit_sums(
    kept: Sequence[_KeptVisit],
    new_ids: Sequence[str],
    baseline: datetime.date,
    blocked: set[datetime.date],
    min_diameter_mm: float,
) -> tuple[list[VolumeAtVisit], dict[str, datetime.date]]:
    """Each kept visit's sum of target lesions, with the new lesions present at it.

    A new lesion is handed to every visit it is measured at (the assessment makes it
    progression wherever that visit can judge it and its axial longest diameter reaches the
    criteria's minimum: a new lesion still there at the latest visit is progression at it), and
    a flagged measurement of it flags that visit (it might be the progression). It counts first
    at the first visit that can judge it: after the baseline, the baseline and the visit
    unflagged and not in ``blocked``, the lesion present there with a trusted measurement
    whose axial longest diameter reaches ``min_diameter_mm``. Returns the sums and the date
    each new lesion first counted at.
    """
    volumes: list[VolumeAtVisit] = []
    counted: dict[str, datetime.date] = {}
    baseline_flagged = False
    at_baseline = next((v.here for v in kept if v.date == baseline), {})
    for visit in kept:
        d, here, present = visit.date, visit.here, visit.present
        pending = [lid for lid in new_ids if lid in here]
        # a flagged new lesion cannot make a progression either: its review flags the visit
        review = tuple(
            f"{lid}: {reason}"
            for lid in sorted([*present, *pending])
            for reason in here[lid].review
        )
        if d != baseline:
            review += _method_changes(present, here, at_baseline, baseline)
        if visit.missing:
            review += (
                f"target lesion(s) {', '.join(visit.missing)} not measured at this visit: the "
                "sum of target lesions is incomplete; measure them there (a prompt or a mask "
                "in the manifest)",
            )
        if d == baseline:
            baseline_flagged = bool(review)
        new_here = {
            lid: m.axial_longest_diameter_mm
            for lid in pending
            if (m := here[lid].measurement) is not None
        }
        if d > baseline and not review and not baseline_flagged and d not in blocked:
            for lid, diameter in new_here.items():
                if diameter >= min_diameter_mm:
                    counted.setdefault(lid, d)
        estimates = [here[lid].registration_volume_ml for lid in present]
        records = [here[lid].measurement for lid in present]
        measured = [r for r in records if r is not None]
        # else flagged: its review says why
        complete = len(measured) == len(records) and not visit.missing
        volumes.append(
            VolumeAtVisit(
                d,
                sum(r.volume_ml for r in measured) if complete else None,
                sum(r.volume_uncertainty_ml for r in measured),
                new_here,
                review=review,
                registration_total_ml=None
                if visit.missing or any(e is None for e in estimates)
                else sum(e for e in estimates if e is not None),
                reader_outlined=all(here[lid].origin is LesionOrigin.MASK for lid in present),
            )
        )
    return volumes, counted


def _method_changes(
    present: Sequence[str],
    here: Mapping[str, LesionVisitResult],
    at_baseline: Mapping[str, LesionVisitResult],
    baseline: datetime.date,
) -> tuple[str, ...]:
    """Review reasons for target lesions measured here by another volume method than at the
    baseline (a 3D voxel count against a 2D area-length estimate, a single view against two):
    the change would mix the methods' biases with the lesion's growth (docs/echo.md). A lesion
    recorded as gone (0 mL) is 0 by any method."""
    out: list[str] = []
    for lid in present:
        now, then = here[lid].measurement, at_baseline.get(lid)
        before = None if then is None else then.measurement
        if now is None or before is None or now.volume_ml == 0 or before.volume_ml == 0:
            continue
        if now.volume_method is not before.volume_method:
            out.append(
                f"{lid}: measured by {now.volume_method.value} here and by "
                f"{before.volume_method.value} at the baseline ({baseline.isoformat()}): a "
                "change across methods mixes their biases with the lesion's growth; measure "
                "this visit as the baseline was measured"
            )
    return tuple(out)


def assess_patient(
    patient_id: str,
    lesion_visits: Sequence[LesionVisitResult],
    criteria: ResponseCriteria | str,
    treatment_start: datetime.date | None = None,
    treatment_stop: datetime.date | None = None,
    warnings: Sequence[str] = (),
    treatment: TreatmentHistory | None = None,
) -> PatientResult:
    """Assess a patient's response per lesion type from the lesions measured at each visit.

    The baseline visit is decided here, once per lesion type (:func:`baseline_date`: the last
    visit on or before the treatment start), and handed to :func:`assess_response`. Target
    lesions are those measured at the baseline visit; a lesion first seen after it is a new
    lesion, and progression at the first visit that can judge it: the first visit at or after
    its first sighting that is not flagged or left out, at which it is measured, trusted, and
    its axial longest diameter reaches the criteria's minimum (one first seen smaller counts
    when it has grown to it). Until it has counted, a flagged measurement of it flags its
    visit. A
    lesion seen before the baseline but not measured at it is neither: it is left out with a
    warning (its volume cannot be compared with a baseline it lacks). The sum of the target
    lesions' volumes is assessed; a target lesion missing from a visit makes that visit's sum
    incomplete, so the visit is left out with a warning, as is an earlier visit at which no
    target lesion was measured.

    ``treatment`` (the treatment file's record of the patient) adds pauses to the months on
    treatment and trough levels to the recommendations; its start and stop are used where
    ``treatment_start`` / ``treatment_stop`` are not given. The patient's warnings also name
    an image file given at two visits, a manifest date more than 7 days from the scan's own
    acquisition date, and every trough level above 15 ng/mL. Before treatment, a growing AML
    longer than 30 mm is reported as meeting the guideline's treatment indication.
    """
    if isinstance(criteria, str):
        criteria = criteria_named(criteria)
    if treatment is not None:
        treatment_start = treatment_start or treatment.start
        treatment_stop = treatment_stop or treatment.stop
    notes = list(warnings) + _input_warnings(lesion_visits) + _trough_warnings(treatment)
    new_lesions: dict[str, datetime.date] = {}
    assessments: list[ResponseAssessment] = []
    for kind in sorted({lv.lesion_type for lv in lesion_visits}, key=lambda k: k.value):
        of_kind = [lv for lv in lesion_visits if lv.lesion_type is kind]
        dates = sorted({lv.date for lv in of_kind})
        baseline = baseline_date(dates, treatment_start)
        first_seen: dict[str, datetime.date] = {}
        for lv in sorted(of_kind, key=lambda lv: lv.date):
            first_seen.setdefault(lv.lesion_id, lv.date)
        targets = {lv.lesion_id for lv in of_kind if lv.date == baseline}
        for lid, d in first_seen.items():
            if d > baseline:
                new_lesions[lid] = d
            elif lid not in targets:
                notes.append(
                    f"{_lesion_prefix(kind, lid)}seen on {d.isoformat()} but not measured at the "
                    f"baseline ({baseline.isoformat()}), so it is not a target lesion and is "
                    "left out of the assessment; measure it at the baseline visit to include it"
                )
        kept: list[_KeptVisit] = []
        for d in dates:
            here = {lv.lesion_id: lv for lv in of_kind if lv.date == d}
            present = [lid for lid in targets if lid in here]
            missing = sorted(set(targets) - set(present))
            if missing and d == dates[-1] and d > baseline:
                # the status describes the latest visit: an incomplete sum there is not
                # evaluable (a target lesion left out could be the progression), never a
                # status taken from an earlier visit
                kept.append(_KeptVisit(d, here, tuple(sorted(present)), tuple(missing)))
                continue
            if not present:
                notes.append(
                    f"{_visit_prefix(kind, d)}no target lesion was measured at this "
                    "visit; the visit is left out of the assessment"
                )
                continue
            if missing:
                # before the baseline as after it: a sum of some target lesions against the
                # baseline's sum of all would be a smaller, wrong sum
                notes.append(
                    f"{_visit_prefix(kind, d)}target lesion(s) {', '.join(missing)} not "
                    "measured at this visit; the visit is left out of the assessment"
                )
                continue
            kept.append(_KeptVisit(d, here, tuple(sorted(present))))
        new_ids = sorted(lid for lid, d in first_seen.items() if d > baseline)
        # A new lesion counts at the first visit that can judge it (see _visit_sums); a visit
        # the assessment itself found unjudgeable (its two change estimates straddle the
        # response threshold) is then blocked and the lesion waits for the next one.
        blocked: set[datetime.date] = set()
        while True:
            volumes, counted = _visit_sums(
                kept, new_ids, baseline, blocked, criteria.new_lesion_min_diameter_mm
            )
            assessment = assess_response(
                volumes, criteria, treatment_start, treatment_stop, kind, treatment, baseline
            )
            unjudged = {tp.date for tp in assessment.timepoints if tp.review}
            newly = (set(counted.values()) & unjudged) - blocked
            if not newly:
                break
            blocked |= newly
        extra = _acquisition_warnings(of_kind) + _method_warnings(of_kind)
        if extra:
            assessment = replace(assessment, warnings=(*assessment.warnings, *extra))
        if kind is LesionType.AML:
            indication, texts = _aml_indication(of_kind, treatment_start)
            assessment = replace(
                assessment,
                treatment_indication=indication,
                guideline_notes=(*assessment.guideline_notes, *texts),
            )
        assessments.append(assessment)
    return PatientResult(
        patient_id,
        treatment_start,
        treatment_stop,
        tuple(sorted(lesion_visits, key=lambda lv: (lv.date, lv.lesion_id))),
        tuple(assessments),
        new_lesions,
        tuple(notes),
        treatment,
    )
