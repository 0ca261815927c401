"""Lesion views: three orthogonal planes, oriented as the letters say, at physical scale.

An obliquely acquired phantom (grid rotated 20 and 10 degrees) holds a 5 mm-radius lesion and
three bright markers 12 mm from it: to the patient's left (+x in LPS), anterior (-y) and
superior (+z). Each plane must show its markers on the side its letters name, and the lesion's
section at its analytic radius.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from tscimg import Geometry, Mask, Scan
from tscimg.core.vocabularies import Modality
from tscimg.longitudinal.views import LesionView, ViewPlane, lesion_view
from tscimg.report.figures import png_size, view_png
from tscimg.synthetic import Ellipsoid, Layer, RigidPose, render, rotation_matrix
from tscimg.synthetic.rendering import voxel_centres_lps

CENTRE = np.array([4.0, -3.0, 6.0])
RADIUS = 5.0
MARKERS = {"L": (12.0, 0.0, 0.0), "A": (0.0, -12.0, 0.0), "S": (0.0, 0.0, 12.0)}


def _phantom(size: tuple[int, int, int] = (70, 70, 70)) -> tuple[Scan, Mask]:
    direction = rotation_matrix((10.0, 0.0, 20.0))
    spacing = np.array([0.9, 0.9, 1.2])
    origin = CENTRE - direction @ ((np.asarray(size) - 1) * spacing / 2)
    g = Geometry(size, tuple(spacing), tuple(origin), tuple(direction.ravel()))
    layers = [Layer(Ellipsoid(tuple(CENTRE), (RADIUS, RADIUS, RADIUS)), 100.0)]
    layers += [
        Layer(Ellipsoid(tuple(CENTRE + m), (3.0, 3.0, 3.0)), 1000.0) for m in MARKERS.values()
    ]
    values = render(g, RigidPose(), 0.0, layers, samples_per_axis=(1, 1, 1))
    scan = Scan(g.apply_to(sitk.GetImageFromArray(values.astype(np.float32))), modality=Modality.MR)
    inside = np.linalg.norm(voxel_centres_lps(g) - CENTRE, axis=1) <= RADIUS
    return scan, Mask.from_array(inside.reshape(size[::-1]).astype(np.uint8), g)


@pytest.fixture(scope="module")
def view() -> LesionView:
    scan, mask = _phantom()
    return lesion_view(scan, mask, field_of_view_mm=40.0, centre_lps=tuple(CENTRE))


def _side(image: np.ndarray) -> tuple[float, float]:
    """Where the bright markers sit: (column, row) offsets from the centre, pixels."""
    rows, cols = np.nonzero(image > 200)
    centre = (image.shape[0] - 1) / 2
    return float(cols.mean() - centre), float(rows.mean() - centre)


def test_each_plane_shows_the_patient_directions_its_letters_name(view: LesionView) -> None:
    axial, coronal, sagittal = view.planes
    assert [p.plane for p in view.planes] == [
        ViewPlane.AXIAL,
        ViewPlane.CORONAL,
        ViewPlane.SAGITTAL,
    ]
    assert axial.letters == ("R", "L", "A", "P")
    assert coronal.letters == ("R", "L", "S", "I")
    assert sagittal.letters == ("A", "P", "S", "I")
    # axial holds the left and anterior markers: one to the right, one above
    dx, dy = _side(axial.image)
    assert dx > 20 and dy < -20
    # coronal: left (right half) and superior (top); sagittal: anterior (left) and superior (top)
    dx, dy = _side(coronal.image)
    assert dx > 20 and dy < -20
    dx, dy = _side(sagittal.image)
    assert dx < -20 and dy < -20


def test_the_lesion_is_shown_at_its_physical_size_in_every_plane(view: LesionView) -> None:
    assert view.pixel_mm == pytest.approx(40.0 / 320)
    for plane in view.planes:
        assert plane.image.shape == (320, 320)
        radius_mm = np.sqrt(plane.mask.sum() / np.pi) * view.pixel_mm
        # the section's radius within a third of a voxel (0.9 x 0.9 x 1.2 mm) of the ball's
        assert radius_mm == pytest.approx(RADIUS, abs=0.3), plane.plane
        assert plane.covered.all()
    assert "percentile" in view.window_basis


def test_outside_the_scan_the_carried_outline_and_the_round_trip() -> None:
    scan, mask = _phantom((40, 40, 30))  # 36 x 36 x 36 mm: a 60 mm field reaches past it
    shifted = Mask.from_array(np.roll(mask.to_array(), 3, axis=2), mask.geometry)
    v = lesion_view(scan, mask, 60.0, pixels=120, reference=shifted, reference_date="2024-01-10")
    for plane in v.planes:
        assert 0.2 < plane.covered.mean() < 0.9  # the field's rim is outside the scan
        assert plane.reference is not None
    # the reference is shifted along the grid's i axis: it differs from the outline
    assert any((p.reference != p.mask).any() for p in v.planes if p.reference is not None)
    assert v.reference_date == "2024-01-10"
    again = LesionView.from_dict(v.to_dict())
    assert all(
        (a.image == b.image).all() and (a.covered == b.covered).all()
        for a, b in zip(again.planes, v.planes, strict=True)
    )
    width, height = png_size(view_png(v))
    assert height >= 320 and width >= 3 * 320  # every plane at least 320 pixels square


def test_a_2d_frame_is_one_image_plane_without_patient_directions() -> None:
    g = Geometry((120, 100, 1), (0.3, 0.3, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    j, i = np.mgrid[0:100, 0:120]
    disc = ((i - 60) ** 2 + (j - 50) ** 2 <= 15**2).astype(np.uint8)[None]
    scan = Scan(g.apply_to(sitk.GetImageFromArray(disc * 150)), modality=Modality.US, frame_index=3)
    v = lesion_view(scan, Mask.from_array(disc, g), 30.0)
    (plane,) = v.planes
    assert plane.plane is ViewPlane.IMAGE and plane.letters is None
    assert v.is_planar and v.frame == 3
    assert plane.mask.sum() * v.pixel_mm**2 == pytest.approx(np.pi * 4.5**2, rel=0.05)
    assert png_size(view_png(v)) == (330, 330)


def test_a_flagged_visit_shows_its_review_reasons_beside_its_views(view: LesionView) -> None:
    """DESIGN.md section 5's trust gate: the reasons sit in the caption of the views they
    concern, in the lesion-view section, not only in the summary."""
    import datetime as dt
    from dataclasses import replace

    from tscimg.core.vocabularies import LesionType
    from tscimg.longitudinal import (
        TSC,
        CohortResult,
        LesionOrigin,
        LesionVisitResult,
        assess_patient,
    )
    from tscimg.measure import LesionRecord
    from tscimg.report.html import render_html

    figures = LesionRecord.of_figures(0.5, 0.01, 10.0)
    reason = "the carried lesion changed 7.10-fold since 2024-01-10"
    visits = [
        LesionVisitResult("L1", LesionType.SEGA, dt.date(2024, 1, 10), "a", LesionOrigin.PROMPT,
                          figures, view=view),
        LesionVisitResult("L1", LesionType.SEGA, dt.date(2024, 7, 10), "b", LesionOrigin.CARRIED,
                          replace(figures, volume_ml=3.55), view=view, review=(reason,)),
    ]  # fmt: skip
    patient = assess_patient("P1", visits, TSC, dt.date(2024, 1, 15))
    html = render_html(CohortResult(TSC, (patient,)))
    views = html[html.index('<section class="views-all">') :]
    caption = views[views.index("L1, 2024-07-10") :]
    caption = caption[: caption.index("</figcaption>")]
    assert f"<strong>review:</strong> {reason}" in caption
    assert "review:" not in views[: views.index("L1, 2024-07-10")]  # not at the trusted visit
