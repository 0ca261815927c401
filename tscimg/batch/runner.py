"""``track``: the whole longitudinal pipeline for every patient of a manifest.

The unit of work is a patient (its visits depend on each other): :func:`run_patient` reads its
scans and writes its masks and DICOM outputs into the output folder, in this process or on a
worker of a dask.distributed cluster (``jobs`` > 1 starts a local one, ``scheduler``/``client``
use an existing one; the workers share the output folder's filesystem); this process assembles
the result. One failing patient is listed in the result's errors while every other completes.
With an output folder each finished patient's measurements are saved (atomically) under
``.tscimg-state/``, with the content hash of each output file they name; a later run on the
same folder skips a patient whose manifest rows (the whole of each row, and the header that
names its cells), input files (by content hash), software
version and parameters are unchanged and whose outputs are still those files, so an
interrupted batch resumes where it stopped. One run at a time writes into an output folder
(:mod:`tscimg.batch.run_lock`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import numbers
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tscimg.batch.patient import (
    DICOM_FOLDER,
    TrackParameters,
    VisitFailure,
    process_patient,
    safe_name,
)
from tscimg.batch.provenance import TRACKED_PACKAGES, measuring_code_sha256, software_versions
from tscimg.batch.run_lock import (
    held_token,
    output_folder_lock,
    require_current_run,
    writing_for,
)
from tscimg.core.disclaimer import RESEARCH_USE_DISCLAIMER
from tscimg.core.errors import InputError, TscimgError, environment_problem
from tscimg.core.treatment import TreatmentHistory
from tscimg.io.atomic import atomic_file, require_writable, temporary_pattern
from tscimg.io.hashing import content_sha256
from tscimg.io.manifest import Manifest, PatientPlan, read_manifest
from tscimg.io.treatment import TreatmentFile, read_treatment
from tscimg.longitudinal.criteria import ResponseCriteria, criteria_named
from tscimg.longitudinal.results import (
    REPORT_KINDS,
    CaseError,
    CohortResult,
    LesionVisitResult,
    PatientResult,
    assess_patient,
)

STATE_FOLDER = ".tscimg-state"
MASKS_FOLDER = "masks"
#: The report files a run writes into its output folder: removed before a patient's outputs
#: are rewritten, as they describe the outputs before.
REPORT_FILES = tuple(f"report.{kind}" for kind in REPORT_KINDS)

if TYPE_CHECKING:
    from distributed import Client

#: Called after each patient: (patient_id, failed, resumed).
ProgressCallback = Callable[[str, bool, bool], None]


@dataclass(frozen=True)
class PatientJob:
    """One patient's work, self-contained so that a worker on another machine can run it.

    Paths are absolute (a worker's working folder is not the client's).
    """

    plan: PatientPlan
    rows: tuple[str, ...]  # the manifest's header and the patient's rows: the resume key's
    manifest_folder: Path
    output_dir: Path | None
    parameters: TrackParameters
    resume: bool
    #: The token of the run's output-folder lock: a worker writes nothing once another run
    #: holds the folder (:func:`~tscimg.batch.run_lock.require_run_holds`)
    run_token: str | None = None
    #: The client's software (:func:`_software`): a worker running other code writes nothing
    client_software: dict[str, str] | None = None


@dataclass(frozen=True)
class PatientOutcome:
    """What a worker sends back: the lesion results or the error, and the worker's software."""

    lesions: list[LesionVisitResult] | None
    error: CaseError | None
    resumed: bool
    software: dict[str, str]


#: The key of :func:`_software` holding tscimg's measuring code fingerprint.
CODE_KEY = "tscimg measuring code"


def _software() -> dict[str, str]:
    """This process's software: the versions, and tscimg's measuring code by content (the
    version stays the same between the commits of a checkout)."""
    return {**software_versions(), CODE_KEY: measuring_code_sha256()}


def _patient_key(job: PatientJob, hashes: dict[Path, str]) -> str:
    """What a patient's results depend on: the manifest's header and the patient's rows, its
    files' contents, software (versions, and tscimg's measuring code by content), settings.

    Files are named relative to the manifest's folder, so the key does not depend on the
    working folder of the process computing it.
    """
    files = {os.path.relpath(p, job.manifest_folder): hashes[p] for p in job.plan.images}
    record = {
        "rows": list(job.rows),
        "files": files,
        "software": software_versions(),
        "code": measuring_code_sha256(),
        "parameters": json.dumps(asdict(job.parameters), sort_keys=True, default=str),
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _state_path(output_dir: Path, patient_id: str) -> Path:
    return output_dir / STATE_FOLDER / f"{safe_name(patient_id)}.json"


def _outputs(lesions: list[LesionVisitResult]) -> list[str]:
    """The files a patient's results name (masks, a biplane visit's second-view mask, DICOM
    SEG and SR), relative to the output folder, each once."""
    named = (
        p
        for lv in lesions
        for p in (lv.mask, _second_view_mask(lv), lv.dicom_seg, lv.dicom_sr)
        if p is not None
    )
    return list(dict.fromkeys(named))


def _second_view_mask(lesion: LesionVisitResult) -> str | None:
    m = lesion.measurement
    return None if m is None or m.second_view is None else m.second_view.mask


def _output_hashes(lesions: list[LesionVisitResult], output_dir: Path) -> dict[str, str]:
    """SHA-256 of each output file of a patient's results, by its name in the results."""
    return {p: content_sha256(output_dir / p) for p in _outputs(lesions)}


def _load_state(path: Path, key: str, output_dir: Path) -> list[LesionVisitResult] | None:
    """A patient's saved results, when its inputs are those of ``key`` and every output file
    they name is still the one they were saved with (by content). ``None``: compute again."""
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if state.get("key") != key:
        return None
    try:
        lesions = [LesionVisitResult.from_dict(d) for d in state["lesions"]]
        saved = dict(state["outputs"])
    except (KeyError, TypeError, ValueError):
        return None  # saved by a version that stored results differently: compute again
    try:
        found = _output_hashes(lesions, output_dir)
    except (TscimgError, OSError):
        return None  # an output was removed: compute the patient again
    if found != saved:
        # an output was rewritten since (a run on changed inputs, stopped before it finished
        # this patient, or an edit): the saved results no longer describe it
        return None
    return lesions


def run_patient(job: PatientJob) -> PatientOutcome:
    """One patient, in this process or on a worker: its lesion results, or its error."""
    plan, output_dir = job.plan, job.output_dir
    software = _software()
    if job.client_software is not None and software != job.client_software:
        # checked before anything is written: a worker running other code recomputed a
        # finished patient, overwriting its masks, SEG/SR and state, before the client
        # refused its results (the client says what differs)
        return PatientOutcome(None, CaseError(plan.patient_id, None, "other software"), False,
                              software)  # fmt: skip
    try:
        with writing_for(output_dir, job.run_token):
            return _run_patient(job, software)
    except Exception as exc:  # a bug must not take the other patients down
        return PatientOutcome(None, _case_error(plan.patient_id, exc), False, software)


def _run_patient(job: PatientJob, software: dict[str, str]) -> PatientOutcome:
    """:func:`run_patient` within its run's write check."""
    plan, output_dir = job.plan, job.output_dir
    hashes = {p: content_sha256(p) for p in plan.images}
    key = _patient_key(job, hashes)
    if output_dir is not None and job.resume:
        done = _load_state(_state_path(output_dir, plan.patient_id), key, output_dir)
        if done is not None:
            return PatientOutcome(done, None, True, software)
    masks = None if output_dir is None else output_dir / MASKS_FOLDER
    if output_dir is not None:
        require_current_run()
        # an earlier run's reports show this patient's earlier masks and figures: should
        # this run stop before writing its own, none may stand beside the new masks
        for name in REPORT_FILES:
            (output_dir / name).unlink(missing_ok=True)
    lesions = process_patient(plan, job.manifest_folder, masks, job.parameters, hashes)
    if output_dir is not None:
        require_current_run()
        state = {
            "key": key,
            "lesions": [lv.to_dict(include_view=True) for lv in lesions],
            "outputs": _output_hashes(lesions, output_dir),
        }
        with atomic_file(_state_path(output_dir, plan.patient_id)) as tmp:
            tmp.write_text(json.dumps(state, allow_nan=False))
    return PatientOutcome(lesions, None, False, software)


def _case_error(patient_id: str, exc: Exception, step: str | None = None) -> CaseError:
    """The error of a patient that failed (the other patients go on): a :class:`VisitFailure`
    names its visit, a :class:`TscimgError` says what was wrong and what to do, anything else
    is an internal error named with its type and the ``step`` it happened in (``None``: while
    its visits were processed)."""
    if isinstance(exc, VisitFailure):
        return CaseError(patient_id, exc.date, exc.message)
    if isinstance(exc, TscimgError):
        message = str(exc) if step is None else f"{step}: {exc}"
    elif (problem := environment_problem(exc)) is not None:  # a full disk is not a bug
        message = problem if step is None else f"{step}: {problem}"
    else:
        where = "" if step is None else f" in {step}"
        message = f"internal error{where}: {type(exc).__name__}: {exc}"
    return CaseError(patient_id, None, message)


def _assess_or_fail(
    plan: PatientPlan,
    lesions: list[LesionVisitResult],
    rules: ResponseCriteria,
    course: TreatmentHistory | None,
) -> PatientResult | CaseError:
    """A processed patient's response assessment, checked to go into report.json and
    report.csv, or the error that fails this patient alone (its measurements stay saved)."""
    try:
        assessed = assess_patient(
            plan.patient_id,
            lesions,
            rules,
            plan.treatment_start,
            plan.treatment_stop,
            treatment=course,
        )
        # report.json and report.csv are written for all patients at once: a patient whose
        # result cannot be written (a value JSON refuses) fails here, alone
        json.dumps(assessed.to_dict(), allow_nan=False)
        CohortResult(rules, (assessed,)).to_records()
    except Exception as exc:
        return _case_error(plan.patient_id, exc, "the response assessment")
    return assessed


def _absolute(manifest: str | os.PathLike[str] | Manifest) -> Manifest:
    """The manifest read from its absolute path: every file path in it is then absolute."""
    if isinstance(manifest, Manifest):
        return manifest if manifest.path.is_absolute() else read_manifest(manifest.path.absolute())
    return read_manifest(Path(manifest).absolute())


def _row_texts(read: Manifest) -> dict[int, str]:
    """The full text of each manifest row by the line it starts on, and under 0 the header.

    A row runs to the line before the next row starts: a quoted cell may hold a line break,
    and the cells after it are on the row's next line. The header decides what each cell
    means (a column renamed from ``point_ras`` to ``point_lps`` moves the prompt).
    """
    lines = read.text.splitlines()
    starts = sorted({r for plan in read.patients for r in plan.rows if 0 < r <= len(lines)})
    ends = [*starts[1:], len(lines) + 1]
    pairs = zip(starts, ends, strict=True)
    texts = {r: "\n".join(lines[r - 1 : end - 1]).rstrip() for r, end in pairs}
    texts[0] = "\n".join(lines[: starts[0] - 1] if starts else lines).rstrip()
    return texts


def _jobs(
    read: Manifest, out: Path | None, params: TrackParameters, resume: bool
) -> list[PatientJob]:
    texts = _row_texts(read)
    token = None if out is None else held_token(out)
    software = _software()
    return [
        PatientJob(
            plan=plan,
            rows=(texts[0], *(texts.get(r, str(r)) for r in plan.rows)),
            manifest_folder=read.path.parent,
            output_dir=out,
            parameters=params,
            resume=resume,
            run_token=token,
            client_software=software,
        )
        for plan in read.patients
    ]


def _software_mismatch(outcome: PatientOutcome, patient_id: str) -> CaseError | None:
    """A worker whose libraries differ from this process's would make the report's versions
    (and possibly its numbers) wrong: that patient fails with what differs."""
    ours = _software()
    differ = [
        f"{name} {outcome.software.get(name)} (here {ours.get(name)})"
        for name in TRACKED_PACKAGES
        if outcome.software.get(name) != ours.get(name)
    ]
    if outcome.software.get(CODE_KEY) != ours[CODE_KEY]:  # the same version, other code
        code = outcome.software.get(CODE_KEY) or "unknown"
        differ.append(f"{CODE_KEY} {code[:12]} (here {ours[CODE_KEY][:12]})")
    if not differ:
        return None
    return CaseError(
        patient_id,
        None,
        "the worker that processed this patient runs other versions: "
        + ", ".join(differ)
        + "; install the same tscimg and libraries on every worker as on the client",
    )


#: The hidden temporary files of writes into a patient's output folders (a mask, a visit's SEG
#: and SR), which a killed run leaves behind.
_OWN_TEMPORARIES = (
    temporary_pattern(r"\d{4}-\d{2}-\d{2}_.+\.nii\.gz", ".nii.gz"),
    temporary_pattern(r"(?:seg|sr)\.dcm", ".dcm"),
)


def _previous_outputs(out: Path, patient_id: str) -> dict[str, str]:
    """The output files (relative to ``out``) and their SHA-256 that the patient's saved state
    names: what an earlier run wrote for it. Empty without a readable state."""
    try:
        saved = json.loads(_state_path(out, patient_id).read_text())["outputs"]
        return {str(k): str(v) for k, v in dict(saved).items()}
    except (OSError, KeyError, TypeError, ValueError):
        return {}


def _remove_stale_outputs(
    out: Path,
    patient_id: str,
    lesions: list[LesionVisitResult],
    previous: dict[str, str],
    inputs: set[str],
) -> list[str]:
    """Remove what an earlier run wrote for the patient that its results no longer name.

    A visit or lesion taken out of the manifest, or renamed, kept its mask and its SEG/SR in
    OUTDIR, where a reader browsing the folder took them for this run's; a killed write left a
    hidden temporary file. Removed are only files the patient's earlier state names
    (``previous``: tscimg wrote them) whose content is still what it wrote (a file edited
    since is the reader's), never a file of ``inputs`` (normalised absolute paths of the
    manifest's images and masks), and the hidden temporary files of tscimg's writes; a file
    of the reader's own (a corrected mask saved beside the outputs) is never touched. Returns
    the removed files, relative to ``out``.
    """
    # every path compared as the file it is (links and '..' resolved): a manifest naming an
    # output through a link to OUTDIR, or an OUTDIR given as ../out, compared as text, lost
    # the reader's mask or removed nothing
    root = Path(os.path.realpath(out))
    folders = [
        root / MASKS_FOLDER / safe_name(patient_id),
        root / DICOM_FOLDER / safe_name(patient_id),
    ]
    keep = {os.path.realpath(out / p) for p in _outputs(lesions)} | inputs
    removed = []
    for name, sha in previous.items():
        path = Path(os.path.realpath(out / name))
        try:
            if (
                str(path) in keep
                or not any(path.is_relative_to(f) for f in folders)
                or not path.is_file()
                or content_sha256(path) != sha
            ):
                continue
            path.unlink()
            removed.append(path.relative_to(root).as_posix())
        except (OSError, TscimgError):
            continue  # unreadable, busy or gone: left as it is
    for folder in folders:
        try:
            if not folder.is_dir() or folder.is_symlink():
                continue
            paths = sorted(folder.rglob("*"), reverse=True)  # a folder's files before it
        except OSError:  # a folder that cannot be listed: nothing removed there
            continue
        for path in paths:
            try:
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()  # OSError when not empty: it holds other files
                elif (
                    any(p.fullmatch(path.name) for p in _OWN_TEMPORARIES)
                    and os.path.realpath(path) not in keep
                ):
                    path.unlink(missing_ok=True)
                    removed.append(path.relative_to(root).as_posix())
            except OSError:  # not empty, busy (NFS) or not ours to enter: left as it is
                continue
    return sorted(removed)


def _missing_outputs(outcome: PatientOutcome, out: Path, patient_id: str) -> CaseError | None:
    """A patient whose results name output files that are not in ``out`` here: its worker
    wrote them where this machine cannot see them (an OUTDIR on the worker's own disk). The
    run exited 0 with a report naming masks that did not exist, and "resumed" the patient on
    that worker the next time."""
    if outcome.lesions is None:
        return None
    absent = [p for p in _outputs(outcome.lesions) if not (out / p).is_file()]
    if not absent:
        return None
    shown = ", ".join(absent[:3]) + (f" and {len(absent) - 3} more" if len(absent) > 3 else "")
    return CaseError(
        patient_id,
        None,
        f"the outputs of this patient are not in {out} here ({shown}): the worker that "
        "processed it wrote them where this machine cannot see them; every worker must see "
        "the output folder on a file system shared with this machine (docs/batch.md)",
    )


def checked_jobs(jobs: object) -> int:
    """``jobs`` as an int of at least 1, or an :class:`InputError` naming it."""
    if isinstance(jobs, bool) or not isinstance(jobs, numbers.Integral) or int(jobs) < 1:
        raise InputError(
            f"jobs must be a whole number of at least 1, got {jobs!r}",
            hint="Give jobs=1 (one patient at a time) or more (parallel worker processes)",
        )
    return int(jobs)


def track(
    manifest: str | os.PathLike[str] | Manifest,
    output_dir: str | os.PathLike[str] | None = None,
    criteria: str | ResponseCriteria = "tsc",
    jobs: int = 1,
    resume: bool = True,
    parameters: TrackParameters | None = None,
    progress: ProgressCallback | None = None,
    client: Client | None = None,
    scheduler: str | None = None,
    treatment: str | os.PathLike[str] | TreatmentFile | None = None,
) -> CohortResult:
    """Track every patient of a manifest and assess the response.

    Parameters
    ----------
    manifest
        Path of the manifest CSV (or one already read).
    output_dir
        Where masks (``masks/``) and resume state go; ``None`` keeps everything in memory.
        Reports are written by :func:`tscimg.report.write_reports`. One run at a time may
        write into a folder (:class:`~tscimg.batch.run_lock.OutputFolderLockedError`).
    criteria
        ``"tsc"`` (30% response), ``"exist"`` (50%), or a :class:`ResponseCriteria`.
    jobs
        Patients processed in parallel on this machine (worker processes of a local
        dask.distributed cluster); ignored with ``client`` or ``scheduler``.
    resume
        Skip patients finished by an earlier run into ``output_dir`` with unchanged inputs.
    parameters
        Carrying and measuring settings.
    progress
        Called as ``progress(patient_id, failed, resumed)`` after each patient.
    client
        A ``distributed.Client``: its cluster's workers process the patients. They must see
        the manifest's files and ``output_dir`` at the same paths as this process.
    scheduler
        Address of a running dask scheduler (``tcp://host:8786``), used like ``client``.
    treatment
        The treatment file (``patient_id,date,event,value``: start, stop, pauses, drug, doses,
        trough levels; docs/longitudinal.md), validated against the manifest before anything
        runs; it only changes the assessment (months on treatment, trough findings).

    Returns
    -------
    CohortResult
        Patients in manifest order, errors for the patients that failed, provenance. The same
        whichever way the patients ran.

    Raises
    ------
    ManifestError
        When the manifest is invalid (nothing is processed then).
    TreatmentFileError
        When the treatment file is invalid or disagrees with the manifest (nothing is processed).
    OutputFolderLockedError
        When another run is writing into ``output_dir``.
    ClusterError
        When the scheduler cannot be reached, or the cluster is lost during the run.
    """
    jobs = checked_jobs(jobs)
    rules = criteria if isinstance(criteria, ResponseCriteria) else criteria_named(criteria)
    given = manifest.path if isinstance(manifest, Manifest) else Path(manifest)
    read = _absolute(manifest)
    courses = (
        treatment
        if isinstance(treatment, TreatmentFile) or treatment is None
        else read_treatment(treatment, read)
    )
    params = parameters or TrackParameters()
    out = None if output_dir is None else Path(output_dir).absolute()
    lock = contextlib.nullcontext() if out is None else output_folder_lock(out)
    results: dict[str, PatientOutcome] = {}
    removed: list[str] = []
    inputs = {  # never removed as a stale output (a corrected mask saved beside the outputs)
        os.path.realpath(read.path.parent / p) for plan in read.patients for p in plan.images
    }
    previous: dict[str, dict[str, str]] = {}
    with lock:
        if out is not None:
            # what earlier runs wrote, read under the lock (no other run changes it now) and
            # before this run's states replace theirs
            previous = {p.patient_id: _previous_outputs(out, p.patient_id) for p in read.patients}
            for name in REPORT_FILES:  # an output-folder problem, not any patient's
                require_writable(out / name)
                written = temporary_pattern(re.escape(name), Path(name).suffix)
                for temporary in out.glob(f".{name}.*"):  # a killed run's, never read
                    if not written.fullmatch(temporary.name):
                        continue  # not atomic_file's: a reader's own
                    with contextlib.suppress(OSError):  # busy (NFS): left as it is
                        temporary.unlink(missing_ok=True)
                        removed.append(temporary.name)
        for job, outcome in _run_jobs(_jobs(read, out, params, resume), jobs, client, scheduler):
            pid = job.plan.patient_id
            mismatch = _software_mismatch(outcome, pid)
            if mismatch is not None:
                outcome = PatientOutcome(None, mismatch, False, outcome.software)
            elif out is not None and (missing := _missing_outputs(outcome, out, pid)):
                outcome = PatientOutcome(None, missing, False, outcome.software)
            if out is not None and outcome.lesions is not None and outcome.error is None:
                removed += _remove_stale_outputs(
                    out, pid, outcome.lesions, previous.get(pid, {}), inputs
                )
            results[pid] = outcome
            if progress is not None:
                progress(pid, outcome.error is not None, outcome.resumed)
    patients = []
    errors = []
    for plan in read.patients:
        result = results[plan.patient_id]
        if result.error is not None or result.lesions is None:
            errors.append(result.error or CaseError(plan.patient_id, None, "no result"))
            continue
        course = None if courses is None else courses.patients.get(plan.patient_id)
        assessed = _assess_or_fail(plan, result.lesions, rules, course)
        if isinstance(assessed, CaseError):
            errors.append(assessed)
        else:
            patients.append(assessed)
    provenance: dict[str, Any] = {
        "manifest": str(given),
        "manifest_sha256": hashlib.sha256(read.text.encode()).hexdigest(),
        "parameters": json.loads(json.dumps(asdict(params), default=str)),
        "resumed_patients": sorted(pid for pid, r in results.items() if r.resumed),
        "removed_outputs": sorted(removed),
    }
    if courses is not None:
        provenance["treatment"] = str(courses.path)
        provenance["treatment_sha256"] = courses.sha256
    return CohortResult(
        criteria=rules,
        patients=tuple(patients),
        errors=tuple(errors),
        software=software_versions(),
        provenance=provenance,
        disclaimer=RESEARCH_USE_DISCLAIMER,
    )


def _lesion_visits(plan: PatientPlan) -> int:
    return sum(len(lesion.visits) for lesion in plan.lesions.values())


def _run_jobs(
    jobs: list[PatientJob], workers: int, client: Client | None, scheduler: str | None
) -> Iterator[tuple[PatientJob, PatientOutcome]]:
    """Each job with its outcome, in the order they finish: in this process, on ``client``'s
    cluster, on ``scheduler``'s, or on a local cluster of ``workers`` processes."""
    if client is None and scheduler is None and (workers <= 1 or len(jobs) <= 1):
        for job in jobs:
            yield job, run_patient(job)
        return
    from tscimg.batch import cluster  # imports distributed: only when a cluster is used

    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(
                cluster.scheduler_client(scheduler)
                if scheduler is not None
                else cluster.local_client(min(workers, len(jobs)))
            )
        # Longest first (dask runs tasks in the order they are given): the last patients to
        # start decide when a parallel run ends, and a patient's time grows with its visits.
        ordered = sorted(jobs, key=lambda job: -_lesion_visits(job.plan))
        keys = [f"tscimg-patient-{safe_name(job.plan.patient_id)}" for job in ordered]
        for job, outcome in cluster.run_on_cluster(client, run_patient, ordered, keys):
            if isinstance(outcome, PatientOutcome):
                yield job, outcome
            else:
                error = CaseError(job.plan.patient_id, None, outcome)
                yield job, PatientOutcome(None, error, False, _software())
