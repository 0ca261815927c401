"""tscimg: longitudinal tumour volumetry for tuberous sclerosis complex.

Research software, not a medical device: not for diagnosis or treatment decisions.

Examples
--------
>>> import tscimg
>>> issubclass(tscimg.DicomSeriesError, tscimg.TscimgError)
True
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from tscimg.core import (
    AssessmentInputError,
    DicomSeriesError,
    Geometry,
    GeometryMismatchError,
    ImageReadError,
    InputError,
    LesionType,
    Mask,
    MaskError,
    Modality,
    PromptError,
    Scan,
    TscimgError,
    lps_to_ras,
    ras_to_lps,
)
from tscimg.core.disclaimer import RESEARCH_USE_DISCLAIMER
from tscimg.io import load_mask, load_scan, write_volume

try:
    __version__ = version("tscimg")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

if TYPE_CHECKING:
    from distributed import Client

    from tscimg.io.manifest import Manifest
    from tscimg.longitudinal import CohortResult, ResponseCriteria


def track(
    manifest: str | os.PathLike[str] | Manifest,
    output_dir: str | os.PathLike[str] | None = None,
    criteria: str | ResponseCriteria = "tsc",
    jobs: int = 1,
    resume: bool = True,
    client: Client | None = None,
    scheduler: str | None = None,
    treatment: str | os.PathLike[str] | None = None,
) -> CohortResult:
    """Run the whole longitudinal pipeline of a manifest (what ``tscimg track`` does).

    Loads every visit, segments each lesion from its prompts (or carries it from the previous
    visit by registration, or uses its given mask), measures it, and assesses the response per
    patient and lesion type. With ``output_dir`` the masks, report.json, report.csv and
    report.html are written there, and a rerun resumes (unchanged patients are skipped).
    ``jobs`` > 1 runs patients in parallel worker processes on this machine; ``client`` (a
    ``distributed.Client``) or ``scheduler`` (``"tcp://host:8786"``) runs them on a
    dask.distributed cluster whose workers share ``output_dir``'s filesystem (docs/batch.md).
    The result is the same either way. One run at a time writes into ``output_dir``.
    ``treatment`` is the optional treatment file (``tscimg track --treatment``: drug, doses,
    trough levels, pauses; docs/longitudinal.md).

    Returns
    -------
    CohortResult
        ``.patients`` (statuses, per-visit figures), ``.errors`` (patients that failed),
        ``.to_json()`` (report.json) and ``.to_records()`` (report.csv rows).

    Examples
    --------
    >>> import pathlib
    >>> samples = pathlib.Path(__file__).resolve().parents[1] / "sample_scans"  # source tree
    >>> result = track(samples / "manifest.csv")  # no output_dir: nothing written
    >>> for patient in result.patients:
    ...     print(patient.patient_id, patient.assessments[0].status.value)
    TSC-001 response
    TSC-002 non_response_12m
    TSC-003 response
    TSC-004 too_early
    >>> len(result.to_records()), result.errors
    (13, ())
    """
    from pathlib import Path

    from tscimg.batch import output_folder_lock
    from tscimg.batch import track as run_batch
    from tscimg.batch.runner import checked_jobs
    from tscimg.longitudinal.criteria import ResponseCriteria, criteria_named
    from tscimg.report import write_reports

    jobs = checked_jobs(jobs)  # both before the output folder is made
    if not isinstance(criteria, ResponseCriteria):
        criteria = criteria_named(criteria)

    if output_dir is None:
        return run_batch(
            manifest, None, criteria, jobs=jobs, resume=resume, client=client,
            scheduler=scheduler, treatment=treatment,
        )  # fmt: skip
    # an invalid manifest or treatment file is refused before the output folder is made
    from tscimg.io.manifest import Manifest, read_manifest
    from tscimg.io.treatment import read_treatment

    if not isinstance(manifest, Manifest):
        manifest = read_manifest(Path(manifest).absolute())
    courses = None if treatment is None else read_treatment(treatment, manifest)
    with output_folder_lock(output_dir):  # the reports are part of the run
        result = run_batch(
            manifest, output_dir, criteria, jobs=jobs, resume=resume, client=client,
            scheduler=scheduler, treatment=courses,
        )  # fmt: skip
        write_reports(result, Path(output_dir))
    return result


__all__ = [
    "RESEARCH_USE_DISCLAIMER",
    "AssessmentInputError",
    "DicomSeriesError",
    "Geometry",
    "GeometryMismatchError",
    "ImageReadError",
    "InputError",
    "LesionType",
    "Mask",
    "MaskError",
    "Modality",
    "PromptError",
    "Scan",
    "TscimgError",
    "__version__",
    "load_mask",
    "load_scan",
    "lps_to_ras",
    "ras_to_lps",
    "track",
    "write_volume",
]
