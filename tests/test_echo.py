"""Echo: biplane volumes from two 2D views, and method labels across visits (issue 7)."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pytest
from builders import run_tscimg

from tscimg.io import SeriesIdentity, write_ultrasound_cine
from tscimg.synthetic import Ellipsoid, RigidPose
from tscimg.synthetic.studies import ECHO2D_CENTRE, echo2d_cine

CENTRE = (6.0, 2.0, 0.0)
HEADER = "patient_id,date,image,lesion_id,lesion_type,point_lps,treatment_start,frame"


def _views(folder: Path, date: str, mass: Ellipsoid, n: int) -> list[str]:
    """Two views of ``mass``: the plane of its a and b axes, and (probe turned 90 degrees about
    the long axis) the plane of a and c. Returns the manifest rows."""
    rows = []
    shift = (ECHO2D_CENTRE[0], ECHO2D_CENTRE[1], 0.0)
    for view, rotation in ((1, (0.0, 0.0, 0.0)), (2, (90.0, 0.0, 0.0))):
        pose = RigidPose(rotation, shift, CENTRE)
        cine = echo2d_cine(mass, pose, ("biplane", n, view), frames=2)
        path = folder / f"{date}_view{view}.dcm"
        identity = SeriesIdentity("BI-1", f"biplane/{n}/{view}")
        write_ultrasound_cine(cine, (0.3, 0.3), 33.3, path, identity, dt.date.fromisoformat(date))
        centre = pose.body_to_lps(np.asarray([CENTRE]))[0]
        point = ";".join(f"{v:.2f}" for v in centre)
        start = "2024-01-05" if n == 0 and view == 1 else ""
        rows.append(f"BI-1,{date},{path.name},L1,rhabdomyoma,{point},{start},1")
    return rows


def test_two_views_give_the_biplane_volume_of_a_non_spheroid(tmp_path: Path) -> None:
    a, b, c = 8.0, 6.0, 4.5  # not a spheroid: one view alone overestimates by b / c = 4/3
    first = Ellipsoid(CENTRE, (a, b, c))
    later = first.scaled_to_volume(first.volume_ml * 0.6)
    rows = [
        HEADER,
        *_views(tmp_path, "2024-01-02", first, 0),
        *_views(tmp_path, "2024-06-03", later, 1),
    ]
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    result = run_tscimg("track", str(tmp_path / "manifest.csv"), "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    (assessment,) = report["patients"][0]["assessments"]
    for tp, truth in zip(assessment["timepoints"], (first, later), strict=True):
        lesion = tp["lesions"]["L1"]
        assert lesion["volume_method"] == "biplane area-length (2D, two views)"
        assert lesion["volume_ml"] == pytest.approx(truth.volume_ml, rel=0.15)
        # the single view of the a-b plane assumes c = b: a third too large
        assert lesion["single_plane_volume_ml"] == pytest.approx(4 / 3 * truth.volume_ml, rel=0.15)
        a_now, b_now, c_now = truth.semi_axes_mm
        assert lesion["area_mm2"] == pytest.approx(math.pi * a_now * b_now, rel=0.10)
        assert lesion["second_view"]["area_mm2"] == pytest.approx(math.pi * a_now * c_now, rel=0.10)
        assert (out / lesion["second_view"]["mask"]).exists()
    assert assessment["timepoints"][1]["change_from_baseline_pct"] == pytest.approx(-40.0, abs=10.0)
    assert assessment["status"] == "response"


def test_mixed_volume_methods_across_visits_are_a_warning() -> None:
    from tscimg.core.vocabularies import LesionType, VolumeMethod
    from tscimg.longitudinal import TSC, LesionOrigin, LesionVisitResult, assess_patient
    from tscimg.measure import LesionRecord

    def visit(date: str, volume: float, method: str) -> LesionVisitResult:
        figures = LesionRecord.of_figures(volume, 0.0, 9.0, volume_method=VolumeMethod(method))
        return LesionVisitResult(
            "L1", LesionType.RHABDOMYOMA, dt.date.fromisoformat(date), "x", LesionOrigin.PROMPT,
            figures,
        )  # fmt: skip

    visits = [
        visit("2024-01-01", 1.0, "voxel count (3D)"),
        visit("2024-06-01", 0.6, "single-plane area-length (2D)"),
    ]
    patient = assess_patient("P", visits, TSC, dt.date(2024, 1, 2))
    (warning,) = [w for w in patient.assessments[0].warnings if "different methods" in w]
    assert "voxel count (3D) on 2024-01-01" in warning
    assert "single-plane area-length (2D) on 2024-06-01" in warning


def test_a_2d_frame_is_never_carried_by_registration() -> None:
    from tscimg.core.errors import InputError
    from tscimg.longitudinal import carry_lesion, register
    from tscimg.segment import Prompts, segment
    from tscimg.synthetic.studies import rhabdomyoma_echo2d_study

    first, second, _ = rhabdomyoma_echo2d_study().visits
    prompts = Prompts.from_physical(
        first.scan.geometry, positive_lps=[first.lesion_centre_lps("L1")]
    )
    mask = segment(first.scan, prompts, first.lesion_type).mask
    with pytest.raises(InputError, match="not carried by registration"):
        carry_lesion(first.scan, mask, second.scan, first.lesion_type)
    with pytest.raises(InputError, match="registration needs 3D volumes"):
        register(first.scan, second.scan)


def test_measure_json_of_a_2d_frame_holds_every_design_key(tmp_path: Path) -> None:
    """DESIGN.md section 4 lists the keys of ``tscimg measure --json``; on a single-frame echo
    mask mesh_volume_ml, surface_area_mm2 and orthogonal_diameters_mm were missing (a script
    reading them got a KeyError). They are null there; the 2D figures are as measured: the
    area is the pixel count x pixel area."""
    import tscimg

    g = tscimg.Geometry((40, 30, 1), (0.3, 0.3, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    j, i = np.indices((30, 40))
    disc = ((i - 20) ** 2 + (j - 15) ** 2 <= 64).astype(np.uint8)[None]
    path = tscimg.write_volume(tscimg.Mask.from_array(disc, g), tmp_path / "frame.nii.gz")
    result = run_tscimg("measure", str(path), "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    design = (
        "voxel_count volume_ml mesh_volume_ml surface_area_mm2 max_3d_diameter_mm "
        "axial_longest_diameter_mm orthogonal_diameters_mm ellipsoid_volume_ml "
        "volume_uncertainty_ml"
    ).split()
    assert [k for k in design if k not in figures] == []
    assert figures["mesh_volume_ml"] is None and figures["orthogonal_diameters_mm"] is None
    assert figures["voxel_count"] == int(disc.sum())
    assert figures["area_mm2"] == pytest.approx(disc.sum() * 0.09)
