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


def _views(
    folder: Path,
    date: str,
    mass: Ellipsoid,
    n: int,
    second: tuple[float, float, float] = (90.0, 0.0, 0.0),
) -> list[str]:
    """Two views of ``mass``: the plane of its a and b axes, and (probe turned 90 degrees about
    the long axis, ``second``'s default) the plane of a and c. Returns the manifest rows."""
    rows = []
    shift = (ECHO2D_CENTRE[0], ECHO2D_CENTRE[1], 0.0)
    for view, rotation in ((1, (0.0, 0.0, 0.0)), (2, second)):
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


def _tracked_assessment(folder: Path, rows: list[str]) -> dict:  # type: ignore[type-arg]
    """``tscimg track`` of the manifest ``rows`` in ``folder``: its one assessment."""
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    out = folder / "out"
    result = run_tscimg("track", str(folder / "manifest.csv"), "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    (assessment,) = json.loads((out / "report.json").read_text())["patients"][0]["assessments"]
    return assessment


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


def test_mixed_volume_methods_across_visits_are_a_warning_and_never_a_status() -> None:
    """A 3D voxel count at baseline and a 2D area-length estimate at the follow-up: +43.8% for
    an unchanged mass read as progression (a helper's echo audit). The follow-up is flagged,
    so the status is not_evaluable; the warning still names each method."""
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
    a = patient.assessments[0]
    assert a.status.value == "not_evaluable"
    assert "measured by single-plane area-length (2D) here and by voxel count (3D)" in a.review[0]


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
    # two outlines: --label measures the one asked for, and their union says so (both were
    # ignored on a 2D frame: the union measured, silently, whatever the label)
    two = disc.copy()
    two[0, 2:6, 2:6] = 2
    path = tscimg.write_volume(tscimg.Mask.from_array(two, g), tmp_path / "two.nii.gz")
    union = json.loads(run_tscimg("measure", str(path), "--json").stdout)
    assert any("the figures describe their union" in w for w in union["warnings"])
    second = json.loads(run_tscimg("measure", str(path), "--label", "2", "--json").stdout)
    assert second["area_mm2"] == pytest.approx(16 * 0.09) and second["warnings"] == []


def test_a_flag_on_either_biplane_view_flags_the_visit() -> None:
    """The second view's review reason was dropped when the two views were combined into the
    biplane volume: a flagged view became a trusted visit (a helper's echo audit)."""
    from tscimg.batch.patient import biplane_result
    from tscimg.core.geometry import Geometry
    from tscimg.core.mask import Mask
    from tscimg.core.vocabularies import LesionType
    from tscimg.longitudinal import LesionOrigin, LesionVisitResult
    from tscimg.measure import LesionRecord, measure_planar

    g = Geometry((40, 40, 1), (0.3, 0.3, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    j, i = np.indices((40, 40))
    disc = (((i - 20) / 12.0) ** 2 + ((j - 20) / 8.0) ** 2 < 1).astype(np.uint8)[None]
    record = LesionRecord.from_planar(measure_planar(Mask.from_array(disc, g)))

    def view(review: tuple[str, ...], warning: str) -> LesionVisitResult:
        return LesionVisitResult(
            "L1", LesionType.RHABDOMYOMA, dt.date(2024, 7, 10), "v.dcm", LesionOrigin.PROMPT,
            record, review=review, warnings=(warning,),
        )  # fmt: skip

    both = biplane_result(view((), "same"), view(("leak guard reached",), "same"), Path("v2.dcm"))
    assert both.review == ("leak guard reached",)
    assert both.warnings == ("same",)  # not repeated
    assert both.measurement is not None and both.measurement.second_view is not None


def test_a_native_ybr_full_422_cine_loads(tmp_path: Path) -> None:
    """Uncompressed YBR_FULL_422 stores a pixel pair's two chroma samples once (2 samples per
    pixel): the file was refused as truncated (the header was taken to promise 3 per pixel).
    Grey frames packed that way read back as their luminance exactly."""
    import pydicom
    import SimpleITK as sitk

    import tscimg

    mass = Ellipsoid((0.0, 0.0, 0.0), (6.0, 4.0, 4.0))
    pose = RigidPose((0.0, 0.0, 0.0), (ECHO2D_CENTRE[0], ECHO2D_CENTRE[1], 0.0))
    cine = echo2d_cine(mass, pose, ("ybr", 0, 1), frames=2)
    plain = tmp_path / "grey.dcm"
    identity = SeriesIdentity("Y-1", "ybr")
    write_ultrasound_cine(cine, (0.3, 0.3), 33.3, plain, identity, dt.date(2024, 5, 10))
    ds = pydicom.dcmread(plain)
    grey = ds.pixel_array
    if ds.PhotometricInterpretation == "RGB":
        grey = grey[..., 0]
    y = grey.reshape(*grey.shape[:-1], -1, 2).astype(np.uint8)  # pixel pairs
    chroma = np.full(y.shape, 128, dtype=np.uint8)
    ds.PixelData = np.concatenate([y, chroma], axis=-1).tobytes()  # Y1 Y2 Cb Cr per pair
    ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.PhotometricInterpretation = "YBR_FULL_422"
    packed = tmp_path / "ybr422.dcm"
    ds.save_as(packed)
    scan = tscimg.load_scan(packed)
    assert np.array_equal(sitk.GetArrayViewFromImage(scan.image)[0], grey[0])


def test_a_2d_mask_measures_the_label_asked_for() -> None:
    """measure_lesion's label was ignored on a 2D frame: the union of both discs was measured
    whatever label was asked for (an absent one included)."""
    from tscimg.core.errors import MaskError
    from tscimg.core.geometry import Geometry
    from tscimg.core.mask import Mask
    from tscimg.measure import measure_lesion

    g = Geometry((80, 40, 1), (0.3, 0.3, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    j, i = np.indices((40, 80))
    labels = np.zeros((40, 80), dtype=np.uint8)
    labels[(i - 20) ** 2 + (j - 20) ** 2 < 15**2] = 1
    labels[(i - 60) ** 2 + (j - 20) ** 2 < 8**2] = 2
    mask = Mask.from_array(labels[None], g)
    for label in (1, 2):
        planar = measure_lesion(mask, label=label).record.planar
        assert planar is not None
        assert planar.area_mm2 == pytest.approx((labels == label).sum() * 0.09)
    with pytest.raises(MaskError, match="label 9 is not in the mask"):
        measure_lesion(mask, label=9)


def test_a_mass_cut_by_the_sector_edge_is_flagged() -> None:
    """An unchanged mass lying across the edge of the ultrasound fan measured half its area, a
    "response" of -50.5%, with neither flag nor warning: only the rectangle's edge was
    checked. A mask that reaches the black outside of the fan is flagged now; the same mass
    inside the fan is not (a helper's echo audit)."""
    from tscimg import Scan
    from tscimg.core.geometry import Geometry
    from tscimg.core.vocabularies import LesionType
    from tscimg.segment import Prompts, segment
    from tscimg.segment.api import FIELD_EDGE_REVIEW

    g = Geometry((160, 120, 1), (0.3, 0.3, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    j, i = np.indices((120, 160))
    rng = np.random.default_rng(3)
    fan = np.abs(np.degrees(np.arctan2(i - 80, j + 20))) < 35  # apex above the image
    tissue = np.clip(rng.gamma(8.0, 90 / 8.0, (120, 160)), 1, 255)

    edge = int(80 + np.tan(np.radians(35)) * (70 + 20))  # the fan's right edge at j = 70

    def frame(centre_i: int) -> tuple[Scan, tuple[int, int, int]]:
        mass = ((i - centre_i) / 12.0) ** 2 + ((j - 70) / 9.0) ** 2 < 1
        values = np.where(fan, np.where(mass, 2.1 * tissue, tissue), 0.0)
        scan = Scan.from_array(np.clip(values, 0, 255).astype(np.uint8)[None], g, modality="US")
        return scan, (min(centre_i, edge - 5), 70, 0)  # the click inside the fan

    for centre_i, flagged in ((edge, True), (80, False)):
        scan, click = frame(centre_i)
        result = segment(scan, Prompts(positive=(click,)), LesionType.RHABDOMYOMA)
        assert (FIELD_EDGE_REVIEW in result.review) is flagged


def test_a_2d_perimeter_closes_each_outline_on_itself() -> None:
    """The 2D area uncertainty is perimeter x boundary shift. The outlines of two discs were
    joined into one polyline with straight jumps between them (116 mm for 80, an inflated
    uncertainty), and a one-pixel lesion had a long axis of 0 and a volume of 0 (a helper's
    measurement audit)."""
    from tscimg.core.geometry import Geometry
    from tscimg.core.mask import Mask
    from tscimg.measure import measure_planar

    g = Geometry((120, 60, 1), (0.5, 0.5, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    j, i = np.indices((60, 120))
    one = ((i - 30) ** 2 + (j - 30) ** 2 < 20**2).astype(np.uint8)
    two = one | ((i - 90) ** 2 + (j - 30) ** 2 < 20**2).astype(np.uint8)
    single = measure_planar(Mask.from_array(one[None], g))
    double = measure_planar(Mask.from_array(two[None], g))
    assert double.area_uncertainty_mm2 == pytest.approx(2 * single.area_uncertainty_mm2, rel=1e-6)
    dot = np.zeros((60, 120), np.uint8)
    dot[30, 30] = 1
    pixel = measure_planar(Mask.from_array(dot[None], g))
    assert pixel.long_axis_mm == pytest.approx(4 * math.sqrt(0.25 / 12))
    assert pixel.area_length_volume_ml > 0


def test_a_frame_whose_regions_differ_in_pixel_size_is_flagged(tmp_path: Path) -> None:
    """A frame with two calibrated regions of different pixel sizes (a zoom box beside the full
    sector) is measured at the largest region's size. A mass in the other region read +367%
    for no change with only a warning in the scan's notes; such a visit is flagged for review
    now, so it never becomes a status (a helper's echo audit)."""
    import pydicom
    from pydicom.dataset import Dataset

    mass = Ellipsoid(CENTRE, (8.0, 6.0, 6.0))
    rows = [HEADER]
    for n, date in enumerate(("2024-01-02", "2024-06-03")):
        row = _views(tmp_path, date, mass, n)[0]
        rows.append(row)
    follow_up = tmp_path / "2024-06-03_view1.dcm"
    ds = pydicom.dcmread(follow_up)
    zoom = Dataset()
    for keyword in ("RegionSpatialFormat", "RegionDataType", "RegionFlags"):
        setattr(zoom, keyword, getattr(ds.SequenceOfUltrasoundRegions[0], keyword))
    zoom.RegionLocationMinX0, zoom.RegionLocationMinY0 = 0, 0
    zoom.RegionLocationMaxX1, zoom.RegionLocationMaxY1 = 20, 20
    zoom.PhysicalUnitsXDirection = zoom.PhysicalUnitsYDirection = 3  # cm
    zoom.PhysicalDeltaX = zoom.PhysicalDeltaY = 0.015  # 0.15 mm: half the sector's 0.3 mm
    ds.SequenceOfUltrasoundRegions.append(zoom)
    ds.save_as(follow_up)
    assessment = _tracked_assessment(tmp_path, rows)
    first, second = (tp["lesions"]["L1"] for tp in assessment["timepoints"])
    assert not any("ultrasound regions" in r for r in first["review"])
    (reason,) = [r for r in second["review"] if "ultrasound regions" in r]
    assert "export the view with one region" in reason
    assert any("0.15 x 0.15 mm at (0,0)-(20,20)" in w for w in second["warnings"])
    assert assessment["status"] == "not_evaluable"


def test_a_pixel_spacing_that_disagrees_with_the_regions_is_a_warning(tmp_path: Path) -> None:
    """An export whose PixelSpacing says 0.5 mm while its ultrasound regions say 0.3 mm was
    measured at 0.3 mm without a word (a helper's echo audit); one that agrees is quiet."""
    import pydicom

    import tscimg

    cine = echo2d_cine(Ellipsoid(CENTRE, (8.0, 6.0, 6.0)), RigidPose(), ("spacing", 0, 1), frames=1)
    path = tmp_path / "view.dcm"
    identity = SeriesIdentity("SP-1", "spacing")
    write_ultrasound_cine(cine, (0.3, 0.3), 33.3, path, identity, dt.date(2024, 1, 2))
    for spacing, warned in (([0.5, 0.5], True), ([0.3, 0.3], False)):
        ds = pydicom.dcmread(path)
        ds.PixelSpacing = spacing
        ds.save_as(path)
        scan = tscimg.load_scan(path, frame=0)
        assert scan.geometry.spacing_mm[:2] == pytest.approx((0.3, 0.3))  # the regions'
        found = [w for w in scan.warnings if "PixelSpacing (0.5 x 0.5 mm" in w]
        assert bool(found) is warned, scan.warnings


def test_biplane_views_that_disagree_on_the_long_axis_are_flagged(tmp_path: Path) -> None:
    """The biplane area-length volume assumes both views contain the mass's long axis. A
    second view across it (the b-c plane: long axis 5 mm where the first view's is 8) gave a
    volume without a word (a helper's echo audit); it is flagged now, and two views that
    share the long axis are not."""
    mass = Ellipsoid(CENTRE, (8.0, 5.0, 4.5))
    rows = [
        HEADER,
        *_views(tmp_path, "2024-01-02", mass, 0),
        *_views(tmp_path, "2024-06-03", mass, 1, second=(0.0, 90.0, 0.0)),  # across the axis
    ]
    assessment = _tracked_assessment(tmp_path, rows)
    shared, across = (tp["lesions"]["L1"] for tp in assessment["timepoints"])
    assert not any("long axes differ" in w for w in shared["warnings"] + shared["review"])
    (reason,) = [r for r in across["review"] if "long axes differ" in r]
    assert "foreshortened" in reason
    assert assessment["status"] == "not_evaluable"
