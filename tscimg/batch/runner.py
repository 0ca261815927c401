"""``track``: the whole longitudinal pipeline for every patient of a manifest.

Patients run in parallel (``jobs``); one failing patient is listed in the result's errors while
every other completes. With an output folder each finished patient's measurements are saved
(atomically) under ``.tscimg-state/``; a later run on the same folder skips a patient whose
manifest rows, input files (by content hash), software version and parameters are unchanged,
so an interrupted batch resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tscimg.batch.patient import TrackParameters, VisitFailure, process_patient, safe_name
from tscimg.batch.provenance import software_versions
from tscimg.core.disclaimer import RESEARCH_USE_DISCLAIMER
from tscimg.io.atomic import atomic_file
from tscimg.io.hashing import content_sha256
from tscimg.io.manifest import Manifest, PatientPlan, read_manifest
from tscimg.longitudinal.criteria import ResponseCriteria, criteria_named
from tscimg.longitudinal.results import (
    CaseError,
    CohortResult,
    LesionVisitResult,
    assess_patient,
)

STATE_FOLDER = ".tscimg-state"
MASKS_FOLDER = "masks"

#: Called after each patient: (patient_id, failed, resumed).
ProgressCallback = Callable[[str, bool, bool], None]


def _patient_key(
    plan: PatientPlan, manifest: Manifest, parameters: TrackParameters, hashes: dict[Path, str]
) -> str:
    """What a patient's results depend on: its rows, its files' contents, software, settings."""
    lines = manifest.text.splitlines()
    rows = [lines[r - 1] if 0 < r <= len(lines) else str(r) for r in plan.rows]
    record = {
        "rows": rows,
        "files": {str(p): hashes[p] for p in plan.images},
        "software": software_versions(),
        "parameters": json.dumps(asdict(parameters), sort_keys=True, default=str),
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _state_path(output_dir: Path, patient_id: str) -> Path:
    return output_dir / STATE_FOLDER / f"{safe_name(patient_id)}.json"


def _load_state(path: Path, key: str, output_dir: Path) -> list[LesionVisitResult] | None:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if state.get("key") != key:
        return None
    lesions = [LesionVisitResult.from_dict(d) for d in state["lesions"]]
    outputs = [p for lv in lesions for p in (lv.mask, lv.dicom_seg, lv.dicom_sr) if p is not None]
    if not all((output_dir / p).exists() for p in outputs):
        return None  # an output was removed: compute the patient again
    return lesions


def _run_patient(
    plan: PatientPlan,
    manifest: Manifest,
    output_dir: Path | None,
    parameters: TrackParameters,
    resume: bool,
) -> tuple[list[LesionVisitResult] | None, CaseError | None, bool]:
    """One patient, in a worker: (lesion results, or the error; whether it was resumed)."""
    try:
        hashes = {p: content_sha256(p) for p in plan.images}
        key = _patient_key(plan, manifest, parameters, hashes)
        if output_dir is not None and resume:
            done = _load_state(_state_path(output_dir, plan.patient_id), key, output_dir)
            if done is not None:
                return done, None, True
        masks = None if output_dir is None else output_dir / MASKS_FOLDER
        lesions = process_patient(plan, manifest.path.parent, masks, parameters, hashes)
        if output_dir is not None:
            state = {"key": key, "lesions": [lv.to_dict(include_view=True) for lv in lesions]}
            with atomic_file(_state_path(output_dir, plan.patient_id)) as tmp:
                tmp.write_text(json.dumps(state, allow_nan=False))
        return lesions, None, False
    except VisitFailure as exc:
        return None, CaseError(plan.patient_id, exc.date, exc.message), False
    except Exception as exc:  # a bug must not take the other patients down
        message = f"internal error: {type(exc).__name__}: {exc}"
        return None, CaseError(plan.patient_id, None, message), False


def track(
    manifest: str | os.PathLike[str] | Manifest,
    output_dir: str | os.PathLike[str] | None = None,
    criteria: str | ResponseCriteria = "tsc",
    jobs: int = 1,
    resume: bool = True,
    parameters: TrackParameters | None = None,
    progress: ProgressCallback | None = None,
) -> CohortResult:
    """Track every patient of a manifest and assess the response.

    Parameters
    ----------
    manifest
        Path of the manifest CSV (or one already read).
    output_dir
        Where masks (``masks/``) and resume state go; ``None`` keeps everything in memory.
        Reports are written by :func:`tscimg.report.write_reports`.
    criteria
        ``"tsc"`` (30% response), ``"exist"`` (50%), or a :class:`ResponseCriteria`.
    jobs
        Patients processed in parallel (processes).
    resume
        Skip patients finished by an earlier run into ``output_dir`` with unchanged inputs.
    parameters
        Carrying and measuring settings.
    progress
        Called as ``progress(patient_id, failed, resumed)`` after each patient.

    Returns
    -------
    CohortResult
        Patients in manifest order, errors for the patients that failed, provenance.

    Raises
    ------
    ManifestError
        When the manifest is invalid (nothing is processed then).
    """
    rules = criteria if isinstance(criteria, ResponseCriteria) else criteria_named(criteria)
    read = manifest if isinstance(manifest, Manifest) else read_manifest(manifest)
    params = parameters or TrackParameters()
    out = None if output_dir is None else Path(output_dir)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    results: dict[str, tuple[list[LesionVisitResult] | None, CaseError | None, bool]] = {}
    if jobs <= 1 or len(read.patients) <= 1:
        for plan in read.patients:
            results[plan.patient_id] = _run_patient(plan, read, out, params, resume)
            _report_progress(progress, plan.patient_id, results[plan.patient_id])
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = {
                pool.submit(_run_patient, plan, read, out, params, resume): plan.patient_id
                for plan in read.patients
            }
            for future in as_completed(futures):
                pid = futures[future]
                results[pid] = future.result()
                _report_progress(progress, pid, results[pid])
    patients = []
    errors = []
    for plan in read.patients:
        lesions, error, _ = results[plan.patient_id]
        if error is not None or lesions is None:
            errors.append(error or CaseError(plan.patient_id, None, "no result"))
            continue
        patients.append(
            assess_patient(
                plan.patient_id, lesions, rules, plan.treatment_start, plan.treatment_stop
            )
        )
    provenance: dict[str, Any] = {
        "manifest": str(read.path),
        "manifest_sha256": hashlib.sha256(read.text.encode()).hexdigest(),
        "parameters": json.loads(json.dumps(asdict(params), default=str)),
        "resumed_patients": sorted(pid for pid, r in results.items() if r[2]),
    }
    return CohortResult(
        criteria=rules,
        patients=tuple(patients),
        errors=tuple(errors),
        software=software_versions(),
        provenance=provenance,
        disclaimer=RESEARCH_USE_DISCLAIMER,
    )


def _report_progress(
    progress: ProgressCallback | None,
    patient_id: str,
    result: tuple[list[LesionVisitResult] | None, CaseError | None, bool],
) -> None:
    if progress is not None:
        progress(patient_id, result[1] is not None, result[2])
