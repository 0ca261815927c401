"""Regenerate the bundled sample scans (deterministic: same bytes every run).

Usage::

    python sample_scans/generate.py [OUTDIR]

Writes, per patient and visit, a DICOM series (CT, MR) and a NIfTI copy (every modality),
plus ``truth.json`` (exact lesion volumes, centres, poses), ``manifest.csv`` in the
format of DESIGN.md section 4 and ``treatment.csv`` (drug, doses, trough levels, pauses;
docs/longitudinal.md). The studies themselves are defined in
:mod:`tscimg.synthetic.studies`.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

from tscimg.core.vocabularies import Modality
from tscimg.io import SeriesIdentity, write_dicom_series, write_ultrasound_cine, write_volume
from tscimg.io.atomic import atomic_file
from tscimg.io.treatment import write_treatment
from tscimg.synthetic import SAMPLE_STUDIES, SampleStudy

MANIFEST_COLUMNS = [
    "patient_id", "date", "image", "lesion_id", "lesion_type",
    "point_index", "point_lps", "point_ras", "negative_index", "negative_lps", "negative_ras",
    "box_index", "box_lps", "mask", "treatment_start", "treatment_stop", "frame",
]
NIFTI_NAME = {Modality.CT: "ct.nii.gz", Modality.MR: "t1c.nii.gz", Modality.US: "echo3d.nii.gz"}


def _fmt(values: tuple[float, ...], digits: int = 2) -> str:
    return ";".join(f"{v:.{digits}f}" for v in values)


def write_study(study: SampleStudy, out: Path) -> tuple[dict[str, object], list[dict[str, str]]]:
    """Write one study's files; return its truth record and manifest rows."""
    truth_visits: list[dict[str, object]] = []
    rows: list[dict[str, str]] = []
    baseline_total = None
    for n, visit in enumerate(study.visits):
        folder = out / study.patient_id / visit.scan.acquisition_date.isoformat()  # type: ignore[union-attr]
        folder.mkdir(parents=True, exist_ok=True)
        identity = SeriesIdentity(
            patient_id=study.patient_id,
            uid_seed=f"tscimg-sample/{study.patient_id}/{n}",
            series_description=f"synthetic {study.lesion_type.value} visit {n + 1}",
            series_number=n + 1,
        )
        if visit.cine is not None:  # 2D echo: the cine is the image; no NIfTI copy
            cine = folder / "echo2d_cine.dcm"
            spacing = visit.scan.geometry.spacing_mm
            write_ultrasound_cine(visit.cine, (spacing[0], spacing[1]), visit.frame_time_ms or 33.3,
                                  cine, identity, visit.scan.acquisition_date)  # type: ignore[arg-type]
            nifti = cine
        else:
            nifti = folder / NIFTI_NAME[study.modality]
            write_volume(visit.scan, nifti)
        dicom_rel = None
        if study.modality in (Modality.CT, Modality.MR):
            write_dicom_series(visit.scan, folder / "dicom", identity)
            dicom_rel = f"{folder.relative_to(out)}/dicom"
        image_rel = dicom_rel or str(nifti.relative_to(out))
        g = visit.scan.geometry
        lesions: dict[str, dict[str, object]] = {}
        for lesion_id, shape in visit.lesions.items():
            centre = visit.lesion_centre_lps(lesion_id)
            lesions[lesion_id] = {
                "volume_ml": round(shape.volume_ml, 6),
                "semi_axes_mm": [round(a, 9) for a in shape.semi_axes_mm],
                "centre_lps": [round(c, 3) for c in centre],
                "centre_index": [round(c, 3) for c in g.lps_to_index(centre)],
            }
            if visit.cine is not None:  # the image plane cuts the spheroid along its long axis
                a, b = shape.semi_axes_mm[0], shape.semi_axes_mm[1]
                lesions[lesion_id]["area_mm2"] = round(math.pi * a * b, 6)
                lesions[lesion_id]["longest_diameter_mm"] = round(2 * a, 6)
        total = sum(float(les["volume_ml"]) for les in lesions.values())  # type: ignore[arg-type]
        baseline_total = baseline_total or total
        truth_visits.append({
            "date": visit.scan.acquisition_date.isoformat(),  # type: ignore[union-attr]
            "image": image_rel,
            "nifti": str(nifti.relative_to(out)),
            "dicom": dicom_rel,
            "size": list(g.size),
            "spacing_mm": [round(s, 6) for s in g.spacing_mm],
            "frame": visit.frame,
            "pose": {"rotation_deg": [round(a, 4) for a in visit.pose.rotation_deg],
                     "translation_mm": [round(t, 4) for t in visit.pose.translation_mm]},
            "lesions": lesions,
            "total_volume_ml": round(total, 6),
            "change_from_baseline_pct": round(100.0 * (total - baseline_total) / baseline_total, 3),
        })
        for lesion_id in visit.lesions:
            row = dict.fromkeys(MANIFEST_COLUMNS, "")
            row.update(patient_id=study.patient_id,
                       date=visit.scan.acquisition_date.isoformat(),  # type: ignore[union-attr]
                       image=image_rel, lesion_id=lesion_id,
                       lesion_type=study.lesion_type.value)
            if visit.cine is not None:  # a 2D view is a new plane: every visit is clicked
                row["point_lps"] = _fmt(visit.lesion_centre_lps(lesion_id))
                row["frame"] = str(visit.frame)
            if n == 0:  # prompts only at baseline: 3D follow-ups are carried over
                row["point_lps"] = _fmt(visit.lesion_centre_lps(lesion_id))
                row["treatment_start"] = study.treatment_start.isoformat()
            rows.append(row)
    truth = {
        "patient_id": study.patient_id,
        "lesion_type": study.lesion_type.value,
        "modality": study.modality.value,
        "treatment_start": study.treatment_start.isoformat(),
        "expected_status": study.expected_status,
        "visits": truth_visits,
    }
    return truth, rows


def main(out: Path) -> None:
    """Generate every sample study into ``out``."""
    patients, rows, treatments = [], [], []
    for make in SAMPLE_STUDIES:
        study = make()
        truth, study_rows = write_study(study, out)
        patients.append(truth)
        rows.extend(study_rows)
        if study.treatment is not None:
            treatments.append((study.patient_id, study.treatment))
    with atomic_file(out / "truth.json") as tmp:
        tmp.write_text(json.dumps({"schema": "tscimg.sample-truth/1", "patients": patients},
                                  indent=2) + "\n")
    with atomic_file(out / "manifest.csv") as tmp, tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    write_treatment(treatments, out / "treatment.csv")
    print(f"sample scans written to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
