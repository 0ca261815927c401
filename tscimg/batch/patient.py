"""Processing one patient: load each visit, segment or carry each lesion, measure, write masks."""

from __future__ import annotations

import datetime
import hashlib
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tscimg.batch.dicom_export import write_visit_dicom
from tscimg.batch.provenance import software_versions
from tscimg.batch.run_lock import require_current_run
from tscimg.core.errors import InputError, MaskError, TscimgError
from tscimg.core.library_warnings import captured_library_warnings
from tscimg.core.mask import Mask
from tscimg.core.scan import Scan
from tscimg.core.vocabularies import VolumeMethod
from tscimg.io import load_mask, load_scan, write_volume
from tscimg.io.hashing import content_sha256
from tscimg.io.manifest import LesionPlan, LesionVisit, PatientPlan
from tscimg.io.ultrasound import REGIONS_DIFFER
from tscimg.longitudinal.carry import (
    CarryParameters,
    LesionReference,
    carry_lesion,
    register_lesion,
    warped_mask,
)
from tscimg.longitudinal.deformation import LesionDeformation
from tscimg.longitudinal.results import LesionOrigin, LesionVisitResult, ScanFacts
from tscimg.longitudinal.trust import TrustParameters, change_review
from tscimg.longitudinal.views import lesion_view
from tscimg.measure import (
    LesionRecord,
    MeasureParameters,
    SecondView,
    acquisition_slices_of,
    measure_lesion,
)
from tscimg.segment import BoxOrigin, Method, Prompts, Segmentation, preset_for, segment

#: The output folder's subfolder of the DICOM SEG and SR, one folder per patient.
DICOM_FOLDER = "dicom"


@dataclass(frozen=True)
class TrackParameters:
    """Settings of the per-visit pipeline.

    Parameters
    ----------
    carry
        Registration and carrying settings.
    trust
        Thresholds of the trust gate (when a measurement is flagged for review).
    measure
        Measurement settings.
    view_min_mm, view_per_diameter
        The report's view of a lesion spans ``view_per_diameter`` times the lesion's maximum
        3D diameter at its first visit, at least ``view_min_mm`` (the same at every visit).
    dicom_output
        For visits read from DICOM, write a SEG and a TID 1500 SR (with an output folder).
    allow_resampling
        Read a DICOM series with missing slices by interpolating across the gap (the scan's
        warning names it, in the lesion's warnings) instead of failing its patient
        (``tscimg track --allow-resampling``).
    """

    carry: CarryParameters = field(default_factory=CarryParameters)
    trust: TrustParameters = field(default_factory=TrustParameters)
    measure: MeasureParameters = field(default_factory=MeasureParameters)
    view_min_mm: float = 40.0
    view_per_diameter: float = 2.5
    dicom_output: bool = True
    allow_resampling: bool = False


class VisitFailure(Exception):
    """A visit of a patient could not be processed (carries the date and the reason)."""

    def __init__(self, date: str, message: str) -> None:
        super().__init__(message)
        self.date = date
        self.message = message


def safe_name(text: str) -> str:
    """A file-name-safe form of an identifier, unique: altered names get a hash suffix.

    Examples
    --------
    >>> safe_name("TSC-001")
    'TSC-001'
    >>> safe_name("TSC 001/a"), safe_name("TSC_001_a")
    ('TSC_001_a-954ae60d', 'TSC_001_a')
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "_"
    if cleaned == text:
        return cleaned
    return f"{cleaned}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


ScanKey = tuple[Path, int | None]


@dataclass
class _Visits:
    """Scans of one patient, loaded once each (a cine once per frame used)."""

    hashes: dict[Path, str] = field(default_factory=dict)
    scans: dict[ScanKey, Scan] = field(default_factory=dict)
    facts: dict[ScanKey, ScanFacts] = field(default_factory=dict)
    allow_resampling: bool = False

    def load(self, path: Path, base: Path, frame: int | None = None) -> tuple[Scan, ScanFacts]:
        key = (path, frame)
        if key not in self.scans:
            scan = load_scan(path, frame=frame, allow_resampling=self.allow_resampling)
            g = scan.geometry
            if g.dimension != 3:
                raise InputError(
                    f"longitudinal tracking needs 3D scans or single frames; this one is "
                    f"{g.dimension}D",
                    path=path,
                )
            if not scan.calibrated:
                raise InputError(
                    "this ultrasound image has no calibration (SequenceOfUltrasoundRegions "
                    "in cm): its sizes are pixels, not mm",
                    path=path,
                    hint="Export the cine with its calibration regions",
                )
            self.scans[key] = scan
            self.facts[key] = ScanFacts(
                image=_relative(path, base),
                sha256=self.hashes.get(path) or content_sha256(path),
                modality=None if scan.modality is None else scan.modality.value,
                manufacturer=scan.manufacturer,
                slice_thickness_mm=scan.slice_thickness_mm,
                spacing_mm=g.spacing_mm,
                series_uid=scan.series_uid,
                frame=frame if scan.frame_index is None else scan.frame_index,
                acquisition_date=None
                if scan.acquisition_date is None
                else scan.acquisition_date.isoformat(),
                reconstruction_kernel=scan.reconstruction_kernel,
                field_strength_t=scan.field_strength_t,
            )
        return self.scans[key], self.facts[key]


def _relative(path: Path, base: Path) -> str:
    """``path`` as the report names it: relative to ``base`` (the manifest's or the output
    folder) when it lies inside it, as written or with links resolved; else as given.

    A scan reached through a symbolic link inside the manifest's folder keeps the name the
    manifest gives it (resolved, it would leave the folder and be reported by its absolute
    target path).

    Examples
    --------
    >>> import os, tempfile
    >>> base, elsewhere = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    >>> (base / "TSC-001").symlink_to(elsewhere)
    >>> _relative(base / "TSC-001" / "scan.nii.gz", base)
    'TSC-001/scan.nii.gz'
    >>> _relative(base / "a" / ".." / "b.nii.gz", base)
    'b.nii.gz'
    >>> _relative(elsewhere / "c.nii.gz", base) == str(elsewhere / "c.nii.gz")
    True
    """
    for inside, folder in (
        (Path(os.path.normpath(path.absolute())), Path(os.path.normpath(base.absolute()))),
        (path.resolve(), base.resolve()),
    ):
        try:
            return inside.relative_to(folder).as_posix()
        except ValueError:
            continue
    return str(path)


def _own_mask(visit: LesionVisit, scan: Scan) -> Mask:
    """The manifest's mask of one lesion at one visit, as a binary mask on the scan's grid.

    Raises
    ------
    MaskError
        When the file holds more than one label: a manifest row's mask outlines its one
        lesion, and the union of a kidney and its tumour (a KiTS label map), of several
        lesions, or a scan given by mistake measured as one lesion became a wrong volume and
        then a status.
    """
    assert visit.mask is not None
    loaded = load_mask(visit.mask, reference=scan)
    labels = loaded.labels
    if len(labels) > 1:
        shown = ", ".join(map(str, labels[:5])) + (", ..." if len(labels) > 5 else "")
        scan_like = ": this many values look like a scan, not a mask" if len(labels) > 20 else ""
        raise MaskError(
            f"the mask holds {len(labels)} labels ({shown}); a manifest mask outlines one "
            f"lesion, and their union would be measured as it{scan_like}",
            path=visit.mask,
            hint="Save this lesion alone as a label map (0 = background, 1 = the lesion), one "
            "file per lesion, and give that file in the mask column",
        )
    binary = (loaded.array_view() > 0).astype("uint8")
    return Mask.from_array(binary, scan.geometry, source=str(visit.mask), warnings=loaded.warnings)


def _visit_prompts(visit: LesionVisit, scan: Scan) -> Prompts:
    p = visit.prompts
    return Prompts.from_physical(
        scan.geometry,
        positive_index=p.positive_index,
        positive_lps=p.positive_lps,
        negative_index=p.negative_index,
        negative_lps=p.negative_lps,
        box_index=p.box_index,
        box_lps=p.box_lps,
    )


def _prompted(visit: LesionVisit, scan: Scan, lesion: LesionPlan) -> Segmentation:
    prompts = _visit_prompts(visit, scan)
    preset = preset_for(lesion.lesion_type, scan.modality).parameters
    if prompts.box is None or preset.window is not None or preset.method is not Method.GRAPH_CUT:
        return segment(scan, prompts, lesion.lesion_type)
    # with a box the cut places the border, so that the appearance model it learns carries to
    # the follow-ups (a region growing deciding alone learns none; GraphCutTuning). A window
    # of absolute intensities (aml-ct's fat, HU) grows alike at every visit: it keeps it.
    cut = replace(preset, graph_cut=replace(preset.graph_cut, growing_decides_alone=False))
    return segment(scan, prompts, lesion.lesion_type, parameters=cut)


def process_patient(
    plan: PatientPlan,
    base: Path,
    masks_dir: Path | None,
    parameters: TrackParameters,
    hashes: dict[Path, str] | None = None,
) -> list[LesionVisitResult]:
    """Segment and measure every lesion of ``plan`` at every visit.

    Parameters
    ----------
    plan
        The patient's lesions and visits (from the manifest).
    base
        The manifest's folder (image paths in results are relative to it).
    masks_dir
        Where to write each mask (``<patient>/<date>_<lesion>.nii.gz``); ``None``: not written.
    parameters
        Carrying and measuring settings.
    hashes
        SHA-256 of input files already computed (by :func:`tscimg.io.hashing.content_sha256`).

    Raises
    ------
    VisitFailure
        Naming the visit date and the problem, when any visit fails (the patient then fails
        as a whole: a partial series of volumes could change the baseline or the status).
    """
    visits = _Visits(hashes=dict(hashes or {}), allow_resampling=parameters.allow_resampling)
    out: list[LesionVisitResult] = []
    by_visit: dict[tuple[datetime.date, ScanKey], list[tuple[int, Mask]]] = {}
    for lesion in plan.lesions.values():
        references = _References()
        field_of_view_mm: float | None = None
        for visit in lesion.visits:
            try:
                with captured_library_warnings() as library_notes:
                    result, mask, reference = _process_visit(
                        plan, lesion, visit, references, visits, base, masks_dir, parameters,
                        field_of_view_mm,
                    )  # fmt: skip
                if library_notes:
                    result = replace(result, warnings=result.warnings + tuple(library_notes))
                if visit.view > 1:  # the second 2D view of this visit: biplane volume
                    out[-1] = biplane_result(out[-1], result, visit.image)
                    continue
            except TscimgError as exc:
                raise VisitFailure(
                    visit.date.isoformat(),
                    f"lesion {lesion.lesion_id} (manifest row {visit.row}): {exc}",
                ) from exc
            out.append(result)
            if mask is None or reference is None:
                continue  # not measured (flagged): no outline to export or to carry from
            by_visit.setdefault((visit.date, (visit.image, visit.frame)), []).append(
                (len(out) - 1, mask)
            )
            references.add(reference, result)
            if field_of_view_mm is None and result.view is not None:
                field_of_view_mm = result.view.field_of_view_mm  # the same at every visit
    if masks_dir is not None and parameters.dicom_output:
        _export_dicom(plan, visits, by_visit, out, masks_dir.parent / DICOM_FOLDER)
    return out


@dataclass
class _References:
    """The visits of one lesion that later visits may be carried from.

    A follow-up is carried from the latest trusted visit the reader prompted or outlined (the
    baseline, unless the reader corrected a later visit); failing that, from the latest trusted
    visit; a flagged visit never serves. When no visit is trusted, from the first visit, whose
    flag the follow-up then inherits. A visit the reader clicked but that was segmented within
    a box carried from its reference (:func:`_clicked_alike`) is carried work, not the reader's
    own outline: it does not take over from its reference (chained, each such visit's border
    compounded: on the KiTS case_00137 phantom of the change-precision benchmark re-prompted at
    every follow-up, the visit at +40% from the nadir, a true change of -9%, read +18.2%; with
    every follow-up referred to the baseline +2.7%, as when none is re-prompted). Nor does a
    visit segmented from a click alone where it could not be segmented alike (a click outside
    the carried box, an untrusted registration): later visits stay with the box's method.
    """

    first: tuple[LesionReference, tuple[str, ...]] | None = None
    reader: LesionReference | None = None
    trusted: LesionReference | None = None

    def add(self, reference: LesionReference, result: LesionVisitResult) -> None:
        if self.first is None:
            self.first = (reference, result.review)
        if result.review:
            return
        self.trusted = reference
        seg = reference.segmentation
        carried_box = seg is not None and seg.prompts.box_origin is BoxOrigin.CARRIED
        # a click alone (segmented alone where it could have been segmented alike, but the
        # registration or the cut failed) does not replace a reference cut within a box on
        # its modality either: the later visits stay with one method (across modalities the
        # visit's own prompt takes over, as its scans' later visits are its modality's)
        alone = (
            seg is not None
            and seg.prompts.box is None
            and self.reader is not None
            and _cut_in_a_box(self.reader, reference.scan)
        )
        if result.origin is not LesionOrigin.CARRIED and not carried_box and not alone:
            self.reader = reference

    def to_carry_from(self) -> tuple[LesionReference, tuple[str, ...]]:
        """The reference, and the review reasons a follow-up inherits from it."""
        chosen = self.reader or self.trusted
        if chosen is not None:
            return chosen, ()
        if self.first is None:  # the manifest reader rules this out
            raise InputError("nothing to carry from: the lesion's first visit has no prompt")
        reference, reasons = self.first
        return reference, tuple(
            f"carried from {reference.date}, which is itself flagged ({r})" for r in reasons
        )


def biplane_result(
    first: LesionVisitResult, second: LesionVisitResult, second_image: Path
) -> LesionVisitResult:
    """One visit's lesion from two 2D views: the biplane area-length volume, both views kept.

    Raises
    ------
    InputError
        When either view is not a single 2D frame.
    """
    a, b = first.measurement, second.measurement
    single = VolumeMethod.SINGLE_PLANE
    if (
        a is None
        or b is None
        or a.volume_method is not single
        or b.volume_method is not single
        or a.planar is None
        or b.planar is None
    ):
        raise InputError(
            "two rows of one lesion on one date are biplane views: both must be 2D frames",
            path=second_image,
            hint="Give 3D scans one row per visit",
        )
    view = SecondView(
        image=second.image,
        frame=None if second.scan is None else second.scan.frame,
        mask=second.mask,
        area_mm2=b.planar.area_mm2,
        long_axis_mm=b.planar.long_axis_mm,
        longest_diameter_mm=b.planar.longest_diameter_mm,
        perpendicular_diameter_mm=b.planar.perpendicular_diameter_mm,
    )
    figures = a.with_second_view(b, view)
    notes, reasons = _long_axes_differ(a.planar.long_axis_mm, b.planar.long_axis_mm)
    # either view's flag flags the visit (the second's was dropped: a trust-gate bypass)
    return replace(
        first,
        measurement=figures,
        warnings=tuple(dict.fromkeys(first.warnings + second.warnings + notes)),
        review=tuple(dict.fromkeys(first.review + second.review + reasons)),
    )


#: Two biplane views' long axes may differ by this fraction of the longer before a warning
#: (echo practice: views whose long axes differ by more than about 10% are foreshortened), and
#: by :data:`BIPLANE_AXIS_REVIEW` before the visit is flagged for review.
BIPLANE_AXIS_WARNING = 0.10
BIPLANE_AXIS_REVIEW = 0.25


def _long_axes_differ(first_mm: float, second_mm: float) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(warnings, review reasons) when two biplane views disagree on the long axis they both
    should contain: the area-length volume assumes one long axis (its length is their mean), so
    a foreshortened view, or a view of another mass, gives a wrong volume without a word."""
    longer = max(first_mm, second_mm)
    differ = abs(first_mm - second_mm) / longer if longer > 0 else 0.0
    if differ <= BIPLANE_AXIS_WARNING:
        return (), ()
    text = (
        f"the two biplane views' long axes differ by {100 * differ:.0f}% ({first_mm:.1f} and "
        f"{second_mm:.1f} mm): both views should contain the mass's long axis; one of them is "
        "foreshortened or shows another part of the mass"
    )
    if differ <= BIPLANE_AXIS_REVIEW:
        return (text,), ()
    return (text,), (text + "; record the views again along the long axis, or give one view",)


def _export_dicom(
    plan: PatientPlan,
    visits: _Visits,
    by_visit: dict[tuple[datetime.date, ScanKey], list[tuple[int, Mask]]],
    out: list[LesionVisitResult],
    folder: Path,
) -> None:
    """A SEG and an SR per visit whose scan is DICOM; their paths go into the results.

    Each source series gets its own folder, ``<date>_<image folder's name>``; where two series
    of one date share that name (``CT/DICOM`` and ``MR/DICOM``), a short digest of the image
    path is added to each, so neither overwrites the other's SEG and SR. A 2D frame read from
    DICOM (an echo view) gets no SEG/SR, with a warning.
    """
    ordered = sorted(by_visit.items(), key=lambda kv: (kv[0][0], str(kv[0][1])))
    names = [(date, safe_name(key[0].name)) for (date, key), _ in ordered]
    anchor = next(  # the earliest DICOM visit's series: the patient's tracking UIDs derive from it
        (
            str(visits.scans[key].series_uid or visits.scans[key].frame_of_reference_uid)
            for (_, key), _ in ordered
            if visits.scans[key].frame_of_reference_uid is not None
            and not visits.scans[key].is_planar
        ),
        None,
    )
    for (date, key), items in ordered:
        image = key[0]
        scan = visits.scans[key]
        if scan.is_planar and scan.series_uid is not None:
            note = (
                f"{date.isoformat()}: no DICOM SEG/SR was written for this visit: it is a 2D "
                "frame (an echo view), which a DICOM SEG cannot place in patient space. The mask "
                "and the figures stand"
            )
            for i, _ in items:
                out[i] = replace(out[i], warnings=(*out[i].warnings, note))
            continue
        if scan.frame_of_reference_uid is None or scan.is_planar:
            continue  # a SEG needs a DICOM source with patient geometry: not NIfTI
        name = safe_name(image.name)
        if names.count((date, name)) > 1:
            name += "_" + hashlib.blake2b(str(image).encode(), digest_size=4).hexdigest()
        target = folder / safe_name(plan.patient_id) / f"{date.isoformat()}_{name}"
        require_current_run()  # never over a later run's outputs
        try:
            with captured_library_warnings() as library_notes:
                seg, sr, notes = write_visit_dicom(
                    plan.patient_id,
                    date,
                    scan,
                    image,
                    [(out[i], mask) for i, mask in items],
                    target,
                    software_versions()["tscimg"],
                    anchor,
                )
        except TscimgError as exc:
            raise VisitFailure(date.isoformat(), f"DICOM SEG/SR output: {exc}") from exc
        except Exception as exc:  # highdicom or pydicom refusing a value of the source's headers
            for name in ("seg.dcm", "sr.dcm"):  # a SEG written before the SR failed, or older
                (target / name).unlink(missing_ok=True)
            _no_dicom_output(out, items, date, exc)
            continue
        notes = [*notes, *library_notes]
        for i, _ in items:
            out[i] = replace(
                out[i],
                dicom_seg=_relative(seg, folder.parent),
                dicom_sr=_relative(sr, folder.parent),
                warnings=out[i].warnings + tuple(notes),
            )


def _no_dicom_output(
    out: list[LesionVisitResult],
    items: list[tuple[int, Mask]],
    date: datetime.date,
    exc: Exception,
) -> None:
    """A visit whose SEG and SR could not be built from its source series' headers: its
    lesions keep their masks and figures, with a warning instead of the DICOM outputs.

    highdicom copies the source's patient and study modules; a value DICOM does not allow
    there (a PatientBirthDate written ``1970-02-01``, not ``19700201``) makes it raise, and
    its message quotes the value: the warning names the error's type only, so no name or
    birth date reaches a report.
    """
    note = (
        f"{date.isoformat()}: no DICOM SEG/SR was written for this visit: they could not be "
        f"built from the source series' headers ({type(exc).__name__}; its message is left out, "
        "as it may quote the patient's name or birth date); check the series' patient and "
        "study attributes. The mask and the figures stand"
    )
    for i, _ in items:
        out[i] = replace(out[i], warnings=(*out[i].warnings, note))


def _figures(mask: Mask, parameters: TrackParameters, scan: Scan) -> tuple[LesionRecord, list[str]]:
    """The lesion's record (3D, or planar for a single frame: :func:`measure_lesion`); the
    axial diameter on the scan's acquisition slices (:func:`acquisition_slices_of`)."""
    measure = parameters.measure
    if measure.slice_axis is None:
        measure = replace(measure, slice_axis=acquisition_slices_of(scan))
    measured = measure_lesion(mask, measure)
    return measured.record, list(measured.warnings)


def _not_measured(
    lesion: LesionPlan,
    visit: LesionVisit,
    facts: ScanFacts,
    carry_from: LesionReference,
    problem: TscimgError,
    warnings: list[str],
) -> LesionVisitResult:
    """A carried follow-up that could not be measured: no volume, flagged with the reason.

    The patient's other visits stand; the status is ``not_evaluable`` while this is the
    latest visit (DESIGN.md section 5), and later visits are carried from an earlier one.
    """
    reason = (
        f"not measured: the lesion could not be carried from {carry_from.date} ({problem}); "
        "give this visit its own prompt (point_lps) or a mask in the manifest"
    )
    return LesionVisitResult(
        lesion_id=lesion.lesion_id,
        lesion_type=lesion.lesion_type,
        date=visit.date,
        image=facts.image,
        origin=LesionOrigin.CARRIED,
        measurement=None,
        method="not measured",
        registration={"from_date": carry_from.date},
        scan=facts,
        warnings=tuple(dict.fromkeys(warnings)),
        review=(reason,),
    )


def _mask_target(
    plan: PatientPlan, lesion: LesionPlan, visit: LesionVisit, masks_dir: Path
) -> Path:
    """Where a visit's mask is written: ``<patient>/<date>_<lesion>[_view<n>].nii.gz``."""
    return (
        masks_dir
        / safe_name(plan.patient_id)
        / (
            f"{visit.date.isoformat()}_{safe_name(lesion.lesion_id)}"
            + ("" if visit.view == 1 else f"_view{visit.view}")
            + ".nii.gz"
        )
    )


def _gone(
    plan: PatientPlan,
    lesion: LesionPlan,
    visit: LesionVisit,
    scan: Scan,
    facts: ScanFacts,
    outline: _Outline,
    masks_dir: Path | None,
) -> LesionVisitResult:
    """A visit whose mask, given by the reader, is empty: the lesion is gone (0 mL), as the
    reader's outline says (a complete response; rhabdomyomas often regress completely).

    Nothing is segmented or carried from it: later visits without a prompt are carried from
    the lesion's last outline, and it gets no DICOM segment."""
    mask_path = None
    if masks_dir is not None:
        target = _mask_target(plan, lesion, visit, masks_dir)
        require_current_run()  # never over a later run's outputs
        write_volume(outline.mask, target)
        mask_path = _relative(target, masks_dir.parent)
    method = VolumeMethod.SINGLE_PLANE if scan.is_planar else VolumeMethod.VOXELS_3D
    note = (
        f"the mask given for {lesion.lesion_id} at this visit is empty: the lesion is recorded "
        "as gone (0 mL), as the reader's outline says; if the file is not the lesion's outline, "
        "give the right one"
    )
    return LesionVisitResult(
        lesion_id=lesion.lesion_id,
        lesion_type=lesion.lesion_type,
        date=visit.date,
        image=facts.image,
        origin=LesionOrigin.MASK,
        measurement=LesionRecord.of_figures(0.0, 0.0, 0.0, 0.0, volume_method=method),
        mask=mask_path,
        method="given mask (empty: the lesion is gone)",
        scan=facts,
        warnings=tuple(dict.fromkeys([*outline.warnings, note])),
    )


@dataclass
class _Outline:
    """A visit's lesion outline, how it was obtained, and the notes on it."""

    mask: Mask
    origin: LesionOrigin
    method: str
    segmentation: Segmentation | None = None
    deformation: LesionDeformation | None = None
    warnings: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)
    registration: dict[str, Any] | None = None
    registration_failed: str | None = None  # why register_lesion failed (not tried again)
    confirmed: bool = False  # the reader's clicks confirmed the carried outline (checked as it)


class _NotCarried(Exception):
    """The lesion could not be carried to this visit (the registration failed, or the lesion
    left the scan): the visit is not measured."""

    def __init__(self, problem: InputError) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _method_name(segmentation: Segmentation) -> str:
    return f"{segmentation.preset}/{segmentation.parameters.method.value}"


def _outline(
    visit: LesionVisit,
    scan: Scan,
    lesion: LesionPlan,
    carry_from: LesionReference | None,
    inherited: tuple[str, ...],
    parameters: TrackParameters,
) -> _Outline:
    """The reader's mask, the reader's prompt segmented, or the lesion carried from
    ``carry_from`` (:class:`_NotCarried` when it cannot be)."""
    if visit.mask is not None:
        mask = _own_mask(visit, scan)
        return _Outline(mask, LesionOrigin.MASK, "given mask", warnings=list(mask.warnings))
    if not visit.carried:
        if (
            carry_from is not None
            and not inherited  # never carried from a flagged visit, clicked or not
            and _cut_in_a_box(carry_from, scan)
            and _clicks_only(visit)
        ):
            return _clicked_alike(visit, scan, lesion, carry_from, parameters)
        seg = _prompted(visit, scan, lesion)
        return _Outline(seg.mask, LesionOrigin.PROMPT, _method_name(seg), seg,
                        warnings=list(seg.warnings), review=list(seg.review))  # fmt: skip
    if carry_from is None:
        if scan.is_planar:
            raise InputError(
                "a 2D frame is not carried by registration (each echo view is a new plane)",
                path=visit.image,
                hint="Give this visit its own prompt (point_lps) in the manifest",
            )
        raise InputError(
            "nothing to carry from: every earlier outline of this lesion is empty (recorded as "
            "gone)",
            path=visit.image,
            hint="Give this visit its own prompt (point_lps) or mask in the manifest",
        )
    try:
        carried = carry_lesion(carry_from, None, scan, lesion.lesion_type, parameters.carry)
    except InputError as exc:
        raise _NotCarried(exc) from exc
    found = carried.segmentation
    return _Outline(
        carried.mask,
        LesionOrigin.CARRIED,
        "registration (the reference lesion warped)" if found is None else _method_name(found),
        found,
        carried.deformation,
        warnings=([] if found is None else list(found.warnings)) + list(carried.warnings),
        review=list(inherited) + list(carried.review),
        registration={
            "click_lps": [round(v, 2) for v in carried.click_lps],
            "intensity_map": _map_record(carried.intensity_map),
        },
    )


def _map_record(mapped: tuple[float, float] | None) -> dict[str, float] | None:
    """report.json's ``registration.intensity_map``: the gain and offset by which the
    reference's intensity model, mapped, placed the border (``None``: learned afresh here)."""
    return None if mapped is None else {"gain": round(mapped[0], 6), "offset": round(mapped[1], 6)}


def _cut_in_a_box(reference: LesionReference, scan: Scan) -> bool:
    """Whether ``reference`` was segmented within a box (the reader's, or carried from one) on
    ``scan``'s modality: a click alone at ``scan`` is then segmented alike
    (:func:`_clicked_alike`)."""
    seg = reference.segmentation
    return (
        seg is not None
        and seg.prompts.box is not None
        and reference.scan.modality is scan.modality
        and not reference.scan.is_planar
        and not scan.is_planar
    )


def _clicks_only(visit: LesionVisit) -> bool:
    p = visit.prompts
    return p.box_index is None and p.box_lps is None


def _clicked_alike(
    visit: LesionVisit,
    scan: Scan,
    lesion: LesionPlan,
    reference: LesionReference,
    parameters: TrackParameters,
) -> _Outline:
    """A follow-up the reader prompted with clicks alone, after a reference segmented within a
    box: segmented as a carried follow-up is (the box, shape prior and intensity model carried
    from the reference, its parameters), from the reader's clicks; clicks that all lie on the
    carried outline confirm it (the outline is the carried one, checked as carried). The click
    alone is grown, not cut: the same scan re-prompted that way read -16.1% against its
    box-prompted baseline.

    Otherwise the click alone is segmented: flagged where the registration failed or is not
    trusted (nothing checks the change then); with a warning where the click lies outside the
    carried box or the cut within it came out empty (the registration's estimate still checks
    the change, :func:`_check_by_registration`)."""
    clicks = _visit_prompts(visit, scan).validated(scan.geometry, scan.source)
    deformation: LesionDeformation | None = None
    failed: str | None = None
    why = ""
    try:
        deformation = register_lesion(reference, scan, parameters.carry)
    except TscimgError as exc:
        failed, why = str(exc), f"the registration failed: {exc.problem}"
    doubts = (
        [] if deformation is None else [*deformation.review, *deformation.registration.warnings]
    )
    unchecked = failed is not None or bool(doubts)
    why = why or "; ".join(doubts)
    if deformation is not None and not doubts:
        try:
            carried = carry_lesion(reference, None, scan, lesion.lesion_type, parameters.carry,
                                   deformation, clicks)  # fmt: skip
        except TscimgError as exc:
            why = exc.problem
        else:
            found = carried.segmentation
            why = "the segmentation within it came out empty"
            if found is not None:
                return _Outline(
                    carried.mask,
                    LesionOrigin.PROMPT,
                    _method_name(found),
                    found,
                    deformation,
                    warnings=list(found.warnings) + list(carried.warnings),
                    review=list(carried.review),
                    registration={"intensity_map": _map_record(carried.intensity_map)},
                    confirmed=carried.confirmed,
                )
    seg = _prompted(visit, scan, lesion)
    note = (
        f"this visit was segmented from its click alone, not within the box carried from "
        f"{reference.date} as its reference was segmented ({why}): the two visits' borders "
        "were placed by different means"
    )
    outline = _Outline(seg.mask, LesionOrigin.PROMPT, _method_name(seg), seg, deformation,
                       warnings=list(seg.warnings), review=list(seg.review),
                       registration_failed=failed)  # fmt: skip
    if unchecked:  # and the registration cannot check the change: a flag
        outline.review.append(
            f"{note}, and the registration cannot check the change; give this visit a box "
            "(box_lps) too, or a mask"
        )
    else:  # the registration's estimate still checks it (_check_by_registration)
        outline.warnings.append(f"{note}; give this visit a box (box_lps) too")
    return outline


def _check_by_registration(
    outline: _Outline, carry_from: LesionReference, scan: Scan, parameters: TrackParameters
) -> float | None:
    """Register the visit to ``carry_from`` (unless carrying did) and apply the trust gate's
    change checks; notes go into ``outline``. Returns the registration's volume estimate,
    mL, when it is trusted."""
    deformation = outline.deformation
    failed = outline.registration_failed  # it failed already: not tried twice
    if deformation is None and failed is None:
        try:  # the registration's own estimate, beside the reader's outline
            deformation = outline.deformation = register_lesion(carry_from, scan, parameters.carry)
        except TscimgError as exc:
            failed = str(exc)
    if deformation is None:
        outline.warnings.append(f"no registration-based change estimate: {failed}")
        return None
    outline.registration = {
        **(outline.registration or {}),
        **deformation.registration.summary(),
        "from_date": carry_from.date,
        "deformable_ncc": round(deformation.quality_ncc, 4),
        "volume_ratio": round(deformation.volume_ratio, 6)
        if math.isfinite(deformation.volume_ratio)
        else None,
        "review": list(deformation.review),
        "imprecise": list(deformation.imprecise),
    }
    trusted = not deformation.review and not deformation.registration.warnings
    # an outline the reader's clicks confirmed is the carried one: checked as carried
    carried = outline.origin is LesionOrigin.CARRIED or outline.confirmed
    if not trusted and not carried:
        outline.warnings += [f"registration estimate not used: {r}" for r in deformation.review]
    # a coarse estimate still cross-checks the segmentation (a disagreement flags the visit),
    # but is no reason to doubt a registration that placed the lesion well
    outline.warnings += [f"registration estimate imprecise: {r}" for r in deformation.imprecise]
    flags, notes = change_review(
        outline.mask.volume_ml(),
        carry_from.volume_ml,
        deformation.volume_ratio if trusted else None,
        carry_from.date,
        parameters.trust,
        carried=carried,
        outlined=outline.origin is LesionOrigin.MASK,
    )
    outline.review += flags
    outline.warnings += notes
    return deformation.volume_ml if trusted else None


def _process_visit(
    plan: PatientPlan,
    lesion: LesionPlan,
    visit: LesionVisit,
    references: _References,
    visits: _Visits,
    base: Path,
    masks_dir: Path | None,
    parameters: TrackParameters,
    field_of_view_mm: float | None,
) -> tuple[LesionVisitResult, Mask | None, LesionReference | None]:
    scan, facts = visits.load(visit.image, base, visit.frame)
    carry_from: LesionReference | None = None
    inherited: tuple[str, ...] = ()
    if references.first is not None and not scan.is_planar:
        carry_from, inherited = references.to_carry_from()
        if carry_from.scan.is_planar:
            carry_from, inherited = None, ()
    try:
        outline = _outline(visit, scan, lesion, carry_from, inherited, parameters)
    except _NotCarried as failed:
        assert carry_from is not None  # only a carried visit is not carried
        not_measured = _not_measured(
            lesion, visit, facts, carry_from, failed.problem, list(scan.warnings)
        )
        return not_measured, None, None
    outline.warnings[:0] = scan.warnings
    if any(REGIONS_DIFFER in w for w in scan.warnings):
        outline.review.append(
            "the frame's ultrasound regions give different pixel sizes, and the largest region's "
            "was used: a mass in another region is measured at the wrong size; export the view "
            "with one region, or check which region the mass lies in"
        )
    mask = outline.mask
    if outline.origin is LesionOrigin.MASK and not mask.array_view().any():
        return _gone(plan, lesion, visit, scan, facts, outline, masks_dir), None, None
    registration_ml = None
    if carry_from is not None:
        registration_ml = _check_by_registration(outline, carry_from, scan, parameters)
    deformation = outline.deformation
    warnings, review = outline.warnings, outline.review
    figures, notes = _figures(mask, parameters, scan)
    warnings += notes
    mask_path = None
    if masks_dir is not None:
        target = _mask_target(plan, lesion, visit, masks_dir)
        require_current_run()  # never over a later run's outputs
        write_volume(mask, target)
        mask_path = _relative(target, masks_dir.parent)
    fov = field_of_view_mm or max(
        parameters.view_min_mm,
        parameters.view_per_diameter * figures.length_mm,
    )
    carried_outline: Mask | None = None
    if carry_from is not None and deformation is not None:
        try:  # the reference outline the registration carries here, drawn beside this visit's
            carried_outline = warped_mask(carry_from, scan, deformation)
        except (TscimgError, RuntimeError) as exc:
            warnings.append(f"the reference outline is not drawn in the views: {exc}")
    result = LesionVisitResult(
        lesion_id=lesion.lesion_id,
        lesion_type=lesion.lesion_type,
        date=visit.date,
        image=facts.image,
        origin=outline.origin,
        measurement=figures,
        mask=mask_path,
        method=outline.method,
        registration=outline.registration,
        scan=facts,
        warnings=tuple(dict.fromkeys(warnings)),
        view=lesion_view(
            scan,
            mask,
            fov,
            centre_lps=figures.centroid_lps,
            reference=carried_outline,
            reference_date=None if carry_from is None else carry_from.date,
        ),
        review=tuple(dict.fromkeys(review)),
        registration_volume_ml=registration_ml,
    )
    reference = LesionReference(scan, mask, visit.date.isoformat(), outline.segmentation)
    return result, mask, reference
