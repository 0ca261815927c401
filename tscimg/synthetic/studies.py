"""The bundled synthetic longitudinal studies: one patient per lesion type, known truth.

Each visit is rendered from analytic ellipsoids (exact volumes) with the patient
repositioned between visits (rotation up to 6 degrees, shift up to 12 mm) and a different
slice spacing per visit. Each study also carries its treatment record (drug, doses, trough
levels, pauses, stop), written as ``sample_scans/treatment.csv``. ``sample_scans/generate.py``
writes them to disk.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from tscimg.core.geometry import Geometry
from tscimg.core.scan import Scan
from tscimg.core.treatment import Drug, TreatmentHistory, TreatmentPause
from tscimg.core.vocabularies import LesionType, Modality
from tscimg.synthetic.rendering import Layer, blur_mm, render
from tscimg.synthetic.shapes import Ellipsoid, RigidPose, rotation_matrix


@dataclass(frozen=True)
class VisitPlan:
    """One visit of a synthetic study: date, lesion volume ratio, grid, patient pose."""

    date: datetime.date
    volume_ratio: float
    slice_spacing_mm: float
    pose: RigidPose


@dataclass(frozen=True)
class SampleVisit:
    """A rendered visit with its truth.

    For a 2D echo cine, ``cine`` holds every frame ``(frames, rows, columns)`` (uint8) and
    ``scan`` is the frame the manifest names (``frame``), a single-slice scan.
    """

    patient_id: str
    lesion_type: LesionType
    scan: Scan
    pose: RigidPose
    lesions: dict[str, Ellipsoid]
    cine: np.ndarray | None = None
    frame: int | None = None
    frame_time_ms: float | None = None

    def lesion_centre_lps(self, lesion_id: str) -> tuple[float, float, float]:
        """Where the lesion's centre is in this visit's scanner space (LPS, mm)."""
        p = self.pose.body_to_lps(np.asarray([self.lesions[lesion_id].center_mm]))[0]
        return (float(p[0]), float(p[1]), float(p[2]))


@dataclass(frozen=True)
class SampleStudy:
    """A synthetic patient: visits, treatment dates and the expected response status.

    ``treatment`` is the record the treatment file holds for the patient (its start is
    ``treatment_start``).
    """

    patient_id: str
    lesion_type: LesionType
    modality: Modality
    treatment_start: datetime.date
    expected_status: str
    visits: tuple[SampleVisit, ...]
    treatment: TreatmentHistory | None = None


def _d(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


def _troughs(*pairs: tuple[str, float]) -> tuple[tuple[datetime.date, float], ...]:
    return tuple((_d(d), v) for d, v in pairs)


#: TSC-001: everolimus 10 mg; a trough of 17.6 ng/mL (above the range) and the dose lowered to
#: 7.5 mg; withheld for three weeks around surgery.
AML_TREATMENT = TreatmentHistory(
    start=_d("2024-01-15"),
    pauses=(TreatmentPause(_d("2024-10-07"), _d("2024-10-28")),),
    drugs=((_d("2024-01-15"), Drug.EVEROLIMUS),),
    doses_mg=((_d("2024-01-15"), 10.0), (_d("2024-07-12"), 7.5)),
    troughs_ng_ml=_troughs(
        ("2024-02-14", 8.2),
        ("2024-07-10", 17.6),
        ("2024-08-21", 11.4),
        ("2025-01-13", 9.6),
        ("2025-07-14", 7.9),
    ),
)
#: TSC-002: everolimus 4.5 then 6 mg; three of four troughs below 5 ng/mL (non-response).
SEGA_TREATMENT = TreatmentHistory(
    start=_d("2024-03-01"),
    drugs=((_d("2024-03-01"), Drug.EVEROLIMUS),),
    doses_mg=((_d("2024-03-01"), 4.5), (_d("2024-07-01"), 6.0)),
    troughs_ng_ml=_troughs(
        ("2024-03-29", 3.4), ("2024-06-27", 4.1), ("2024-08-29", 5.6), ("2025-02-27", 4.4)
    ),
)
#: TSC-003: sirolimus for four months, stopped once the mass had regressed.
ECHO3D_TREATMENT = TreatmentHistory(
    start=_d("2024-05-01"),
    stop=_d("2024-08-30"),
    drugs=((_d("2024-05-01"), Drug.SIROLIMUS),),
    doses_mg=((_d("2024-05-01"), 0.5),),
    troughs_ng_ml=_troughs(("2024-05-29", 6.1), ("2024-06-26", 8.3)),
)
#: TSC-004: everolimus, paused three weeks for an intercurrent infection.
ECHO2D_TREATMENT = TreatmentHistory(
    start=_d("2024-05-15"),
    pauses=(TreatmentPause(_d("2024-11-04"), _d("2024-11-25")),),
    drugs=((_d("2024-05-15"), Drug.EVEROLIMUS),),
    doses_mg=((_d("2024-05-15"), 0.5),),
    troughs_ng_ml=_troughs(("2024-06-12", 5.2), ("2024-12-16", 7.0)),
)


def _seed(*parts: object) -> int:
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _centred_grid(
    size_ij: tuple[int, int],
    spacing_ij: tuple[float, float],
    extent_k_mm: float,
    spacing_k: float,
    acquisition_deg: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> Geometry:
    """A grid of the given in-plane size whose centre is the body origin."""
    nk = int(np.ceil(extent_k_mm / spacing_k))
    size = (size_ij[0], size_ij[1], nk)
    spacing = (spacing_ij[0], spacing_ij[1], spacing_k)
    direction = rotation_matrix(acquisition_deg)
    half = (np.asarray(size) - 1) * np.asarray(spacing) / 2.0
    origin = -direction @ half
    return Geometry(
        size, spacing, tuple(float(v) for v in origin), tuple(float(v) for v in direction.ravel())
    )


def _visits(study: str, ratios: list[tuple[str, float, float]]) -> list[VisitPlan]:
    """Visit plans with deterministic repositioning (up to 6 degrees and 12 mm)."""
    plans = []
    for n, (date, ratio, spacing) in enumerate(ratios):
        rng = np.random.default_rng(_seed(study, "pose", n))
        rx, ry, rz = (0.0, 0.0, 0.0) if n == 0 else rng.uniform(-6, 6, 3).tolist()
        tx, ty, tz = (0.0, 0.0, 0.0) if n == 0 else rng.uniform(-12, 12, 3).tolist()
        pose = RigidPose((rx, ry, rz), (tx, ty, tz))
        plans.append(VisitPlan(datetime.date.fromisoformat(date), ratio, spacing, pose))
    return plans


def _fat_with_strands(points: np.ndarray) -> np.ndarray:
    """AML texture: fat (-95 HU) crossed by soft-tissue / vessel strands (+35 HU)."""
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    s = np.sin(0.55 * x + 0.3 * y) * np.sin(0.45 * y - 0.5 * z) * np.sin(0.6 * z + 0.25 * x)
    return np.where(s > 0.45, 35.0, -95.0)


def _finish(
    values: np.ndarray,
    geometry: Geometry,
    seed: int,
    blur_sigma_mm: float,
    noise_sd: float,
    clip: tuple[float, float],
    dtype: type,
) -> sitk.Image:
    rng = np.random.default_rng(seed)
    out = blur_mm(values, geometry, blur_sigma_mm) + rng.normal(0.0, noise_sd, values.shape)
    out = np.clip(np.rint(out), *clip).astype(dtype)
    return geometry.apply_to(sitk.GetImageFromArray(out))


def _visit(
    pid: str,
    kind: LesionType,
    modality: Modality,
    image: sitk.Image,
    plan: VisitPlan,
    lesion: Ellipsoid,
) -> SampleVisit:
    scan = Scan(
        image,
        modality=modality,
        acquisition_date=plan.date,
        slice_thickness_mm=plan.slice_spacing_mm,
        manufacturer="tscimg synthetic",
    )
    return SampleVisit(pid, kind, scan, plan.pose, {"L1": lesion})


def aml_ct_study() -> SampleStudy:
    """TSC-001: renal angiomyolipoma on CT, 4 visits, 2.5 to 5 mm slices; responds (-38%)."""
    pid = "TSC-001"
    kidney = Ellipsoid((0.0, 0.0, 0.0), (30.0, 27.0, 55.0), (0.0, 10.0, 15.0))
    perirenal = Ellipsoid((0.0, 0.0, 0.0), (40.0, 38.0, 66.0), (0.0, 10.0, 15.0))
    aml0 = Ellipsoid((6.0, -4.0, 12.0), (16.0, 14.0, 13.0), (10.0, 0.0, 20.0))
    plans = _visits(
        pid,
        [
            ("2024-01-10", 1.0, 5.0),
            ("2024-07-12", 0.62, 2.5),
            ("2025-01-14", 0.55, 3.0),
            ("2025-07-15", 0.52, 5.0),
        ],
    )
    visits = []
    for n, plan in enumerate(plans):
        aml = aml0.scaled_to_volume(aml0.volume_ml * plan.volume_ratio)
        grid = _centred_grid((80, 80), (1.1, 1.1), 140.0, plan.slice_spacing_mm)
        values = render(
            grid,
            plan.pose,
            30.0,
            [Layer(perirenal, -100.0), Layer(kidney, 40.0), Layer(aml, _fat_with_strands)],
        )
        image = _finish(values, grid, _seed(pid, "noise", n), 0.7, 12.0, (-1024, 3071), np.int16)
        visits.append(_visit(pid, LesionType.AML, Modality.CT, image, plan, aml))
    return SampleStudy(
        pid,
        LesionType.AML,
        Modality.CT,
        datetime.date(2024, 1, 15),
        "response",
        tuple(visits),
        AML_TREATMENT,
    )


def sega_mr_study() -> SampleStudy:
    """TSC-002: SEGA on oblique T1 post-contrast MRI, 3 visits; -14% at 12 months."""
    pid = "TSC-002"
    left_ventricle = Ellipsoid((-8.0, 2.0, 6.0), (5.0, 22.0, 9.0), (0.0, 0.0, -8.0))
    right_ventricle = Ellipsoid((8.0, 2.0, 6.0), (5.0, 22.0, 9.0), (0.0, 0.0, 8.0))
    sega0 = Ellipsoid((-6.0, -14.0, 0.0), (8.5, 7.5, 7.0), (0.0, 0.0, 15.0))
    plans = _visits(
        pid, [("2024-02-20", 1.0, 1.5), ("2024-09-02", 0.93, 1.2), ("2025-03-05", 0.86, 2.0)]
    )
    visits = []
    for n, plan in enumerate(plans):
        sega = sega0.scaled_to_volume(sega0.volume_ml * plan.volume_ratio)
        core = Ellipsoid(
            sega.center_mm,
            tuple(0.4 * a for a in sega.semi_axes_mm),  # type: ignore[arg-type]
            sega.rotation_deg,
        )
        grid = _centred_grid((72, 72), (1.2, 1.2), 60.0, plan.slice_spacing_mm, (12.0, 0.0, 6.0))
        values = render(
            grid,
            plan.pose,
            520.0,
            [
                Layer(left_ventricle, 160.0),
                Layer(right_ventricle, 160.0),
                Layer(sega, 1150.0),
                Layer(core, 330.0),
            ],
        )
        image = _finish(values, grid, _seed(pid, "noise", n), 0.8, 25.0, (0, 4095), np.int16)
        visits.append(_visit(pid, LesionType.SEGA, Modality.MR, image, plan, sega))
    return SampleStudy(
        pid,
        LesionType.SEGA,
        Modality.MR,
        datetime.date(2024, 3, 1),
        "non_response_12m",
        tuple(visits),
        SEGA_TREATMENT,
    )


def _speckle(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Correlated multiplicative speckle with mean 1 (Rayleigh amplitude, smoothed)."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.rayleigh(1.0, shape), 0.7)
    return np.asarray(field / field.mean())


def rhabdomyoma_echo_study() -> SampleStudy:
    """TSC-003: cardiac rhabdomyoma on 3D echo (speckle), 3 visits; regresses (-40%)."""
    pid = "TSC-003"
    wall = Ellipsoid((0.0, 0.0, 0.0), (15.0, 12.0, 17.0))
    cavity = Ellipsoid((0.0, 0.0, 0.0), (9.0, 7.0, 12.0))
    mass0 = Ellipsoid((11.0, 2.0, 0.0), (5.5, 5.0, 6.0), (0.0, 0.0, 20.0))
    plans = _visits(
        pid, [("2024-04-28", 1.0, 0.6), ("2024-06-30", 0.60, 0.6), ("2024-10-01", 0.45, 0.6)]
    )
    visits = []
    for n, plan in enumerate(plans):
        mass = mass0.scaled_to_volume(mass0.volume_ml * plan.volume_ratio)
        grid = _centred_grid((64, 64), (0.6, 0.6), 38.4, plan.slice_spacing_mm)
        values = render(
            grid,
            plan.pose,
            45.0,
            [Layer(wall, 95.0, hollow=cavity), Layer(mass, 185.0)],
            samples_per_axis=(2, 2, 2),
        )
        values = blur_mm(values, grid, 0.5) * _speckle(values.shape, _seed(pid, "speckle", n))
        image = _finish(values, grid, _seed(pid, "noise", n), 0.3, 4.0, (0, 255), np.uint8)
        visits.append(_visit(pid, LesionType.RHABDOMYOMA, Modality.US, image, plan, mass))
    return SampleStudy(
        pid,
        LesionType.RHABDOMYOMA,
        Modality.US,
        datetime.date(2024, 5, 1),
        "response",
        tuple(visits),
        ECHO3D_TREATMENT,
    )


#: The 2D echo grid: 160 x 128 pixels of 0.3 mm, a 1 mm-thick imaging plane at z = 0.
ECHO2D_GRID = Geometry((160, 128, 1), (0.3, 0.3, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
#: Where the heart's centre sits in the 2D echo image (LPS mm): the image centre.
ECHO2D_CENTRE = (24.0, 19.2, 0.0)


def echo2d_cine(
    mass: Ellipsoid, pose: RigidPose, seed: tuple[object, ...], frames: int = 8
) -> np.ndarray:
    """A 2D echo cine ``(frames, rows, columns)`` uint8 of a mass in a beating wall, with speckle.

    ``pose`` places the body (heart centred at its origin) in the image plane; the wall moves
    by +-2% across frames, the mass does not.
    """
    out = []
    for f in range(frames):
        beat = 1.0 + 0.02 * np.sin(2 * np.pi * f / frames)
        wall = Ellipsoid((0.0, 0.0, 0.0), (15.0 * beat, 12.0 * beat, 17.0))
        cavity = Ellipsoid((0.0, 0.0, 0.0), (9.0 * beat, 7.0 * beat, 12.0))
        values = render(
            ECHO2D_GRID,
            pose,
            45.0,
            [Layer(wall, 95.0, hollow=cavity), Layer(mass, 185.0)],
            samples_per_axis=(2, 2, 3),
        )
        values = blur_mm(values, ECHO2D_GRID, 0.5) * _speckle(
            values.shape, _seed(*seed, "speckle", f)
        )
        rng = np.random.default_rng(_seed(*seed, "noise", f))
        noisy = values + rng.normal(0.0, 4.0, values.shape)
        out.append(np.clip(np.rint(noisy[0]), 0, 255).astype(np.uint8))
    return np.stack(out)


def rhabdomyoma_echo2d_study() -> SampleStudy:
    """TSC-004: cardiac rhabdomyoma on 2D echo cine (8 frames, speckle), 3 visits; -22% at 9 mo.

    The mass is a spheroid (semi-axes a, b, b with a in the image plane), so the single-plane
    area-length volume of its central section is exactly its volume. Each visit's probe
    position differs (in-plane shift and rotation), and the wall moves slightly between frames.
    """
    pid = "TSC-004"
    mass0 = Ellipsoid((6.0, 2.0, 0.0), (6.0, 4.5, 4.5), (0.0, 0.0, 25.0))
    plans = [
        ("2024-05-10", 1.0, (0.0, 0.0, 0.0), (0.0, 0.0)),
        ("2024-09-12", 0.80, (0.0, 0.0, 7.0), (2.5, -1.5)),
        ("2025-02-20", 0.78, (0.0, 0.0, -5.0), (-2.0, 2.0)),
    ]
    chosen = 3
    visits = []
    for n, (date, ratio, rotation, shift) in enumerate(plans):
        mass = mass0.scaled_to_volume(mass0.volume_ml * ratio)
        cx, cy, _ = ECHO2D_CENTRE
        pose = RigidPose(rotation, (cx + shift[0], cy + shift[1], 0.0))
        cine = echo2d_cine(mass, pose, (pid, n))
        image = ECHO2D_GRID.apply_to(sitk.GetImageFromArray(cine[chosen][None]))
        scan = Scan(
            image,
            modality=Modality.US,
            acquisition_date=datetime.date.fromisoformat(date),
            manufacturer="tscimg synthetic",
            frame_index=chosen,
            frame_count=len(cine),
            frame_time_ms=33.3,
        )
        visits.append(
            SampleVisit(pid, LesionType.RHABDOMYOMA, scan, pose, {"L1": mass}, cine, chosen, 33.3)
        )
    return SampleStudy(
        pid,
        LesionType.RHABDOMYOMA,
        Modality.US,
        datetime.date(2024, 5, 15),
        "too_early",
        tuple(visits),
        ECHO2D_TREATMENT,
    )


#: Every bundled study, by patient.
SAMPLE_STUDIES: tuple[Callable[[], SampleStudy], ...] = (
    aml_ct_study,
    sega_mr_study,
    rhabdomyoma_echo_study,
    rhabdomyoma_echo2d_study,
)
