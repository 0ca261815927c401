"""Benchmark: how precisely `tscimg track` measures a known change on real scans (issue 14).

Run: ``python benchmarks/change_precision.py [--cases brain1,kits-case_00137] [--quick]
[--keep DIR] [--jobs 2] [--held-out] [--reslice cubic] [--reprompt]``.

Cases: every labelled real scan in ../shared/data (absent ones are skipped with a note):
pyradiomics brain1 (sega) and breast1 (generic), BRATS pat0005 and pat0006 (T1c, tumour core =
labels 1+3+4; sega), ReMIND-022 (T1 DICOM + DICOM SEG; sega), and CT phantoms built from the
KiTS angiomyolipoma label maps (aml): body 40 HU, perirenal fat -100 HU within 15 mm of the
kidney, kidney parenchyma 35 HU, cyst 5 HU, the tumour fat -100 HU with soft-tissue strands
(35 HU; the texture of segmentation_accuracy.py's phantoms, whose KiTS phantoms have no
perirenal fat), a soft-tissue rim (30 HU, 2 mm and at least one voxel thick) where the tumour
borders perirenal fat (half of each tumour's border is exophytic: without a visible interface
its fat and the perirenal fat are one tissue and no outline is defined), 0.7 mm blur, 12 HU
noise, cropped to 50 mm around the tumour, on the case's own grid.
With ``--held-out`` four more targets in the same real scans run too, which no setting was
chosen on (docs/accuracy.md, "Held-out targets"): BRATS pat0005 and pat0006 whole tumour on
FLAIR (generic) and enhancing tumour on T1c (sega).

Each case becomes five patients whose follow-ups have a KNOWN change (treatment starts at the
baseline, 2025-01-15; prompts at the baseline only: the label's most interior voxel and its
bounding box grown by 10% per side, DESIGN.md section 6; every follow-up is carried; with
``--reprompt`` every follow-up instead gets the protocol's click on its own true label, no box,
as a reader who prompts each visit):

- A: baseline; +1 month the identical file again (truth 0%); +3 months the same anatomy moved and
  re-sliced with noise (truth 0%) -> too_early.
- B: -35% at 12 months -> response.   C: -15% at 12 months -> non_response_12m.
- D: -35% at 6 months, then +40% from that nadir at 12 months (-9% from baseline: not above
  baseline, so no progression; response reached before, not held now) -> stable.
- E: -20% at 6 months, then +40% from that nadir at 12 months (+12%) -> progression.

A changed or moved visit is the baseline resampled (trilinear; with ``--reslice cubic``, cubic
B-splines, which blur it less: a re-slice is an interpolation an acquired scan does not have)
through: a contraction (or growth) that scales the tumour by ratio^(1/3) about its centroid,
exactly, inside an ellipsoid (the tumour's principal axes) that holds every tumour voxel whole,
blending smoothly (smoothstep on the scale factor, radially) to identity over a margin of max(12
mm, 0.5 x the shortest semi-axis) outside it, so the anatomy around it stays; then a rigid
motion of the patient (a rotation of 3-5 degrees about a random axis through the image centre
and a 5 mm shift in a random direction); re-sliced onto a new grid of the same size, spacing and
direction whose origin is moved by 0.2-0.8 voxel along each axis; plus Gaussian noise of sd 2%
of the baseline's intensity range (99.5th minus 0.5th percentile of the whole image). Integer
images stay integers. Truth, computed here and never from the pipeline: the baseline label's
volume (voxel count x voxel volume) times the visit's volume ratio. That is exact, not a design
wish: the deformation is a pure scaling on a region that holds every label voxel whole and the
motion is rigid. It is checked per visit (column "warped label", a note when off by > 0.5
point): the baseline label, its voxels as boxes, warped the same way onto the visit's grid, the
fraction of each voxel it covers (sub-voxel samples on its border, spaced at most 0.25 mm and 2%
of the lesion's size) summed x voxel volume. The ideal voxel mask, the voxels at least half
inside the warped label (that fraction >= 0.5), is kept in truth.json and the saved masks, never
used as the truth: rounding each border voxel at half its partial volume moves its change by up
to 20.6 points on breast1 (3.5 voxels across) and 11.5 on KiTS case_00017 (4.5 slices of 5 mm).
The summary prints that rounding's error beside the two estimates' errors; it is one mask's
error, not a bound (a segmentation can land nearer the truth). ``--keep DIR`` keeps every
image, truth mask, fraction map, manifest, truth.json (it records the re-slicing, ``"reslice":
"linear"`` or ``"cubic"``) and report.

Each case's manifest runs through ``tscimg.track(manifest, outdir, jobs=...)``; report.json is
read back. Per visit: the true change, the segmentation-based ``change_from_baseline_pct``, the
registration-based ``change_registration_pct`` ("-" when absent), review reasons, the expected
status (derived here from the true volumes with DESIGN.md section 5's rules) against the reported
one (at each patient's last visit: the status describes the latest visit), and seconds (for
follow-ups: the time between this visit's mask and the previous visit's being written; 2 patients
run at once with --jobs 2). Summary: identical-file change, median and worst |change error|,
statuses right / flagged (not_evaluable) / wrong, and the worst disagreement of the two estimates
where neither is flagged. Targets (issue 14): identical 0.0%; median <= 3, worst <= 5 points;
every status right; estimates within 5 points. Figures are printed, nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from math import ceil
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import ndimage
from segmentation_accuracy import DATA, REAL_SPECS
from timing import median_seconds

import tscimg
from tscimg import Geometry, LesionType, Modality, Scan, load_mask, load_scan
from tscimg.io import SeriesIdentity, write_dicom_series
from tscimg.segment.protocol import interior_point, label_box
from tscimg.synthetic.label_phantoms import aml_ct_phantom

BASELINE_DATE = datetime.date(2025, 1, 15)

#: name, image, label, label values of the tumour, lesion type.
REAL = REAL_SPECS
#: Held-out targets, run only with ``--held-out`` (or named in ``--cases``): other tumours in
#: the same real scans, never used to choose a setting (the protocol's "cases you never see"):
#: BRATS whole tumour (1+2+3+4) on FLAIR, a large lesion with no enhancement, and BRATS
#: enhancing tumour (4) on T1c, a rim around necrosis.
HELD_OUT: tuple[tuple[str, str, str, tuple[int, ...], str], ...] = tuple(
    (f"brats-{p}-{suffix}", f"brats/{p}/{image}", f"brats/{p}/OTMultiClass.nii.gz", values, kind)
    for p in ("pat0005", "pat0006")
    for suffix, image, values, kind in (
        ("flair-whole", "Flair_subtrMeanDivStd.nii.gz", (1, 2, 3, 4), "generic"),
        ("t1c-enhancing", "T1c_subtrMeanDivStd.nii.gz", (4,), "sega"),
    )
)
KITS = ("case_00017", "case_00043", "case_00137")
QUICK_CASES = ("breast1", "kits-case_00137")


@dataclass(frozen=True)
class Visit:
    """One visit of a scenario: months after the baseline, volume ratio to it, what it is."""

    months: int
    ratio: float
    scenario: str
    kind: str = "changed"  # baseline | identical | changed


PATIENTS: dict[str, tuple[Visit, ...]] = {
    "A": (
        Visit(0, 1.0, "baseline", "baseline"),
        Visit(1, 1.0, "identical file", "identical"),
        Visit(3, 1.0, "moved, unchanged"),
    ),
    "B": (Visit(0, 1.0, "baseline", "baseline"), Visit(12, 0.65, "-35% @12 mo")),
    "C": (Visit(0, 1.0, "baseline", "baseline"), Visit(12, 0.85, "-15% @12 mo")),
    "D": (
        Visit(0, 1.0, "baseline", "baseline"),
        Visit(6, 0.65, "-35% @6 mo"),
        Visit(12, 0.65 * 1.4, "+40% from nadir @12 mo"),
    ),
    "E": (
        Visit(0, 1.0, "baseline", "baseline"),
        Visit(6, 0.80, "-20% @6 mo"),
        Visit(12, 0.80 * 1.4, "+40% from nadir @12 mo"),
    ),
}
QUICK_PATIENTS = ("A", "B")


@dataclass(frozen=True)
class Source:
    """A labelled baseline: the scan, its tumour label ``[k, j, i]``, and how to write it."""

    name: str
    scan: Scan
    truth: np.ndarray
    lesion_type: LesionType
    original: Path | None  # the real file, used as the baseline image itself
    dicom: bool


# ----------------------------------------------------------------------------------- sources


def load_sources(names: set[str] | None, held_out: bool = False) -> list[Source]:
    out = []
    for name, image, label, values, kind in REAL + HELD_OUT:
        if (names is None and name not in {n for n, *_ in REAL} and not held_out) or (
            names is not None and name not in names
        ):
            continue
        if not (DATA / image).exists() or not (DATA / label).exists():
            print(f"note: {name} skipped: {DATA / image} or its label is absent")
            continue
        scan = load_scan(DATA / image)
        if scan.modality is None:
            scan = scan.derive(modality=Modality.MR)
        truth = np.isin(load_mask(DATA / label, reference=scan).array_view(), values)
        dicom = (DATA / image).is_dir()
        out.append(Source(name, scan, truth, LesionType(kind), DATA / image, dicom))
    for n, case in enumerate(KITS):
        name = f"kits-{case}"
        if names is not None and name not in names:
            continue
        path = DATA / "kits_aml" / case / "segmentation.nii.gz"
        if not path.exists():
            print(f"note: {name} skipped: {path} is absent")
            continue
        scan, truth = kits_phantom(path, seed=n)
        out.append(Source(name, scan, truth, LesionType.AML, None, False))
    return out


def kits_phantom(path: Path, seed: int) -> tuple[Scan, np.ndarray]:
    """A CT phantom of a real AML label map (``tscimg.synthetic.label_phantoms.aml_ct_phantom``)."""
    return aml_ct_phantom(load_mask(path), seed, source=f"kits-phantom:{path.parent.name}")


# ------------------------------------------------------------------------------- known change


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class Deformation:
    """Scales the tumour by ``scale`` about ``centre`` inside an ellipsoid that holds it whole,
    blending radially to identity over ``margin`` (in the ellipsoid's gauge) outside it."""

    centre: np.ndarray
    axes: np.ndarray  # columns: principal directions
    semi_axes_mm: np.ndarray
    margin: float
    scale: float

    @classmethod
    def around(cls, truth: np.ndarray, g: Geometry, scale: float) -> Deformation:
        m = g.index_to_lps_matrix
        idx = np.argwhere(truth)[:, ::-1].astype(float)
        centres = idx @ m[:3, :3].T + m[:3, 3]
        centre = centres.mean(axis=0)
        cov = np.cov((centres - centre).T) if len(centres) > 3 else np.eye(3)
        eigval, axes = np.linalg.eigh(cov + 1e-6 * np.eye(3))
        semi = np.sqrt(eigval)
        corners = np.array(
            [[a, b, c] for a in (-0.5, 0.5) for b in (-0.5, 0.5) for c in (-0.5, 0.5)]
        )
        rho_max = 0.0
        for corner in corners:  # every tumour voxel whole: all 8 corners inside the ellipsoid
            p = (idx + corner) @ m[:3, :3].T + m[:3, 3]
            rho_max = max(
                rho_max, float(np.max(np.linalg.norm(((p - centre) @ axes) / semi, axis=1)))
            )
        semi = semi * rho_max * 1.02
        margin = max(12.0, 0.5 * float(semi.min())) / float(semi.min())
        return cls(centre, axes, semi, margin, scale)

    def _table(self) -> tuple[np.ndarray, np.ndarray]:
        rho = np.linspace(0.0, 1.0 + self.margin, 20001)
        h = self.scale + (1.0 - self.scale) * _smoothstep((rho - 1.0) / self.margin)
        g = rho * h  # the forward radial map, monotone for the scales used here
        if not np.all(np.diff(g) > 0):
            raise ValueError("deformation not invertible: scale too far from 1 for its margin")
        return rho, g

    def source_of(self, y: np.ndarray) -> np.ndarray:
        """The baseline point each point ``y`` (3, n) of the changed anatomy comes from."""
        if self.scale == 1.0:
            return y
        rho_tab, g_tab = self._table()
        v = y - self.centre[:, None]
        u = (np.ascontiguousarray(self.axes.T) @ v) / self.semi_axes_mm[:, None]
        r = np.sqrt(np.einsum("ij,ij->j", u, u))
        near = np.flatnonzero(r < g_tab[-1])  # identity beyond the blend
        factor = np.ones_like(r)
        rn = r[near]
        factor[near] = np.where(
            rn > 0, np.interp(rn, g_tab, rho_tab) / np.maximum(rn, 1e-12), 1.0 / self.scale
        )
        return np.asarray(self.centre[:, None] + v * factor)


@dataclass(frozen=True)
class Motion:
    """The patient moved: follow-up scanner point x shows the anatomy at R (x - c) + c + t."""

    rotation: np.ndarray
    centre: np.ndarray
    shift_mm: np.ndarray
    grid_offset_vox: np.ndarray
    angle_deg: float
    axis: np.ndarray

    @classmethod
    def random(cls, g: Geometry, rng: np.random.Generator) -> Motion:
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        angle = float(rng.uniform(3.0, 5.0))
        th = np.radians(angle)
        k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        rot = np.eye(3) + np.sin(th) * k + (1 - np.cos(th)) * k @ k
        direction = rng.normal(size=3)
        shift = 5.0 * direction / np.linalg.norm(direction)
        centre = np.asarray(g.index_to_lps([(n - 1) / 2 for n in g.size]))
        return cls(rot, centre, shift, rng.uniform(0.2, 0.8, size=3), angle, axis)

    def grid(self, g: Geometry) -> Geometry:
        origin = g.index_to_lps(tuple(float(v) for v in self.grid_offset_vox))
        return Geometry(g.size, g.spacing_mm, origin, g.direction)

    def describe(self) -> str:
        a = ",".join(f"{v:+.2f}" for v in self.axis)
        t = ",".join(f"{v:+.1f}" for v in self.shift_mm)
        o = ",".join(f"{v:.2f}" for v in self.grid_offset_vox)
        return f"rot {self.angle_deg:.1f} deg about ({a}), shift ({t}) mm, grid +({o}) vox"


def warp(
    source: Source,
    motion: Motion,
    deformation: Deformation,
    rng: np.random.Generator,
    coefficients: np.ndarray | None = None,
) -> tuple[Scan, np.ndarray]:
    """The follow-up scan and its truth: the fraction ``[k, j, i]`` of each voxel that the
    warped label covers (see _occupancy). ``coefficients``: the baseline's cubic B-spline
    coefficients (:func:`spline_coefficients`), to re-slice the image with cubic B-splines,
    which blur it less; ``None``: trilinear (the label is always trilinear)."""
    g = source.scan.geometry
    new = motion.grid(g)
    base = sitk.GetArrayViewFromImage(source.scan.image)
    label = source.truth.astype(np.float32)
    to_source = _source_index_map(g, new, motion, deformation)
    fill = float(base.min())
    samples, order = (base, 1) if coefficients is None else (coefficients, 3)
    out = np.empty(base.shape, dtype=np.float32)
    lin = np.empty(base.shape, dtype=np.float32)
    nk, nj, ni = base.shape
    jj, ii = np.meshgrid(np.arange(nj), np.arange(ni), indexing="ij")
    slab = max(1, 2_000_000 // (nj * ni))
    for k0 in range(0, nk, slab):
        ks = np.arange(k0, min(nk, k0 + slab))
        idx = np.stack(
            [
                np.broadcast_to(ii, (len(ks), nj, ni)).ravel(),
                np.broadcast_to(jj, (len(ks), nj, ni)).ravel(),
                np.repeat(ks, nj * ni),
            ]
        ).astype(float)
        coords = to_source(idx)[::-1]  # (k, j, i) rows
        shape = (len(ks), nj, ni)
        out[k0 : k0 + len(ks)] = ndimage.map_coordinates(
            samples, coords, order=order, cval=fill, prefilter=False
        ).reshape(shape)
        lin[k0 : k0 + len(ks)] = ndimage.map_coordinates(
            label, coords, order=1, cval=0.0, prefilter=False
        ).reshape(shape)
    occupancy = _occupancy(source.truth, lin, to_source, g.spacing_mm)
    lo, hi = np.percentile(base, [0.5, 99.5])
    out += rng.normal(0.0, 0.02 * float(hi - lo), out.shape).astype(np.float32)
    pixel_id = source.scan.image.GetPixelID()
    if np.issubdtype(base.dtype, np.integer):
        info = np.iinfo(base.dtype)
        pixels = np.clip(np.rint(out), info.min, info.max).astype(base.dtype)
    else:
        pixels = out
        pixel_id = sitk.sitkFloat32
    image = new.apply_to(sitk.Cast(sitk.GetImageFromArray(pixels), pixel_id))
    return source.scan.derive(image=image, source="change_precision"), occupancy


def _source_index_map(
    g: Geometry, new: Geometry, motion: Motion, deformation: Deformation
) -> Callable[[np.ndarray], np.ndarray]:
    """Follow-up voxel indices (3, n) -> continuous baseline voxel indices (3, n), (i, j, k)."""
    m2 = new.index_to_lps_matrix
    to_index = np.linalg.inv(g.index_to_lps_matrix)
    # follow-up index -> scanner point x -> the anatomy's point R (x - c) + c + t, one affine
    a = np.ascontiguousarray(motion.rotation @ m2[:3, :3])
    b = motion.rotation @ (m2[:3, 3] - motion.centre) + motion.centre + motion.shift_mm
    a_inv, b_inv = np.ascontiguousarray(to_index[:3, :3]), to_index[:3, 3]

    def to_source(idx: np.ndarray) -> np.ndarray:
        src = deformation.source_of(a @ idx + b[:, None])
        return np.asarray(a_inv @ src + b_inv[:, None])

    return to_source


def _occupancy(
    truth: np.ndarray,
    lin: np.ndarray,
    to_source: Callable[[np.ndarray], np.ndarray],
    spacing_mm: tuple[float, ...],
) -> np.ndarray:
    """The fraction of each follow-up voxel inside the warped label (the label's voxels as
    boxes): 1 or 0 away from its border (where the trilinear sample is 1, or 0, on the voxel
    and all 26 neighbours); on the border the mean of sub-voxel samples of the label (nearest
    voxel): stratified, one random point in each cell of a grid at most 0.25 mm and 2% of the
    lesion's size (its volume's cube root) apart, at least 3 per axis (a regular grid aliases
    with the label's faces when the motion is a rotation about a grid axis: up to 0.7 point)."""
    cube = np.ones((3, 3, 3), bool)
    border = ndimage.binary_dilation(lin > 0.0, cube) & ~ndimage.binary_erosion(lin >= 1.0, cube)
    occupancy = np.where(border, 0.0, (lin >= 1.0).astype(np.float32)).astype(np.float32)
    where = np.argwhere(border)[:, ::-1].T.astype(float)  # (3, n): (i, j, k)
    step = min(0.25, 0.02 * (float(truth.sum()) * float(np.prod(spacing_mm))) ** (1 / 3))
    counts = np.array([max(3, ceil(s / step)) for s in spacing_mm])
    axes = [(np.arange(n) + 0.5) / n - 0.5 for n in counts]
    sub = np.stack(np.meshgrid(*axes, indexing="ij")).reshape(3, -1)
    rng = np.random.default_rng(0)
    label = truth.astype(np.uint8)
    n = where.shape[1]
    fractions = np.zeros(n, dtype=np.float64)
    chunk = max(1, 2_000_000 // sub.shape[1])
    for s in range(0, n, chunk):
        pts = where[:, s : s + chunk, None] + sub[:, None, :]
        pts += (rng.random(pts.shape) - 0.5) / counts[:, None, None]
        pts = pts.reshape(3, -1)
        v = ndimage.map_coordinates(label, to_source(pts)[::-1], order=0, cval=0)
        fractions[s : s + chunk] = v.reshape(-1, sub.shape[1]).mean(axis=1)
    i, j, k = where.astype(int)
    occupancy[k, j, i] = fractions
    return occupancy


# ------------------------------------------------------------------------------ expected status


def expected_status(changes: list[tuple[int, float]]) -> str:
    """DESIGN.md section 5 on (months, change %) of every visit so far, baseline first."""
    volumes = [1.0 + c / 100.0 for _, c in changes]
    if len(volumes) < 2:
        return "no_baseline"
    months, last = changes[-1][0], volumes[-1]
    nadir = min(volumes[:-1])
    reached = any(v <= 0.70 + 1e-12 for v in volumes[1:])
    if last >= 1.25 * nadir and last > 1.0:
        return "progression"
    if last <= 0.70 + 1e-12:
        return "response"
    if not reached:
        return "non_response_12m" if months >= 12 else "too_early"
    return "stable"


def _months_later(months: int) -> datetime.date:
    y, m = divmod(BASELINE_DATE.month - 1 + months, 12)
    return BASELINE_DATE.replace(year=BASELINE_DATE.year + y, month=m + 1)


# ---------------------------------------------------------------------------------- the cases


@dataclass
class Row:
    case: str
    patient: str
    date: str
    visit: Visit
    true_pct: float | None
    check_pct: float | None
    truth_ml: float | None = None
    voxelised_ml: float | None = None
    motion: str = ""
    expected: str = ""
    measured_ml: float | None = None
    measured: float | None = None
    registration: float | None = None
    reviews: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    reported: str = ""
    seconds: float | None = None
    error: str = ""


def spline_coefficients(source: Source) -> np.ndarray:
    """The baseline image's cubic B-spline coefficients, for :func:`warp`."""
    base = sitk.GetArrayViewFromImage(source.scan.image)
    return np.asarray(ndimage.spline_filter(base, order=3, output=np.float64, mode="mirror"))


def build_case(
    source: Source,
    folder: Path,
    patients: tuple[str, ...],
    cubic: bool = False,
    reprompt: bool = False,
) -> tuple[Path, list[Row]]:
    """Write every visit of the case's patients and its manifest; the rows carry the truth.
    With ``reprompt`` every follow-up gets the protocol's click on its own true label (its
    most interior voxel) and no box, instead of being carried."""
    folder.mkdir(parents=True)
    g = source.scan.geometry
    voxel_ml = g.voxel_volume_mm3 / 1000.0
    base_ml = float(source.truth.sum()) * voxel_ml
    if source.original is not None:
        baseline = source.original
    else:
        baseline = folder / "baseline.nii"
        sitk.WriteImage(source.scan.image, str(baseline))
    sitk.WriteImage(  # the label the truth is computed from, on the baseline's grid
        g.apply_to(sitk.GetImageFromArray(source.truth.astype(np.uint8))),
        str(folder / "baseline_truth.nii.gz"),
    )
    spacing_kji = tuple(g.spacing_mm[::-1])
    point = interior_point(source.truth, spacing_kji)
    coefficients = spline_coefficients(source) if cubic else None  # once for every visit
    box = label_box(source.truth)
    header = "patient_id,date,image,lesion_id,lesion_type,point_index,box_index,treatment_start"
    lines = [header]
    rows: list[Row] = []
    for pid in patients:
        patient = f"{source.name}-{pid}"
        history: list[tuple[int, float]] = []
        for visit in PATIENTS[pid]:
            date = _months_later(visit.months)
            rng = np.random.default_rng(zlib.crc32(f"{patient}/{date}".encode()))
            row = Row(source.name, patient, date.isoformat(), visit, None, None)
            if visit.kind in ("baseline", "identical"):
                image, row.true_pct, row.check_pct = baseline, 0.0, 0.0
                row.truth_ml = row.voxelised_ml = base_ml
            else:
                motion = Motion.random(g, rng)
                deformation = Deformation.around(source.truth, g, visit.ratio ** (1 / 3))
                scan, occupancy = warp(source, motion, deformation, rng, coefficients)
                truth = occupancy > 0
                if truth[[0, -1]].any() or truth[:, [0, -1]].any() or truth[:, :, [0, -1]].any():
                    print(f"note: {patient} {date}: the moved tumour touches the field's edge")
                # exact: a pure scaling on a region holding every label voxel whole, then a
                # rigid motion; checked by the warped label's volume on the visit's grid
                row.truth_ml = visit.ratio * base_ml
                row.true_pct = 100.0 * (visit.ratio - 1.0)
                warped_ml = float(occupancy.sum(dtype=np.float64)) * voxel_ml
                row.check_pct = 100.0 * (warped_ml - base_ml) / base_ml
                row.voxelised_ml = float((occupancy >= 0.5).sum()) * voxel_ml
                if abs(row.check_pct - row.true_pct) > 0.5:
                    print(
                        f"note: {patient} {date}: the warped label's volume gives "
                        f"{row.check_pct:+.2f}%, not the exact {row.true_pct:+.2f}%"
                    )
                row.motion = motion.describe()
                stem = f"{patient}_{date}"
                if source.dicom:
                    image = folder / stem
                    write_dicom_series(
                        scan.derive(acquisition_date=date),
                        image,
                        SeriesIdentity(patient, stem, "change_precision follow-up"),
                    )
                else:
                    image = folder / f"{stem}.nii"
                    sitk.WriteImage(scan.image, str(image))
                for suffix, pixels in (
                    ("truth", (occupancy >= 0.5).astype(np.uint8)),
                    ("truth_fraction", occupancy),
                ):
                    truth_image = scan.geometry.apply_to(sitk.GetImageFromArray(pixels))
                    sitk.WriteImage(truth_image, str(folder / f"{stem}_{suffix}.nii.gz"))
            click = point
            if visit.kind not in ("baseline", "identical"):
                click = interior_point(occupancy >= 0.5, tuple(scan.geometry.spacing_mm[::-1]))
            history.append((visit.months, row.true_pct))
            row.expected = expected_status(history)
            rows.append(row)
            if visit.kind == "baseline":
                prompts = f"{';'.join(map(str, point))},{';'.join(map(str, box))},{BASELINE_DATE}"
            elif reprompt:  # the reader's click at the follow-up, no box
                prompts = f"{';'.join(map(str, click))},,"
            else:
                prompts = ",,"
            lesion_type = source.lesion_type.value
            lines.append(f"{patient},{date},{image},L1,{lesion_type},{prompts}")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    (folder / "truth.json").write_text(
        json.dumps(
            {
                "baseline_ml": base_ml,
                "reslice": "cubic" if cubic else "linear",
                "point_index": point,
                "box_index": box,
                "visits": [
                    {
                        "patient": r.patient,
                        "date": r.date,
                        "scenario": r.visit.scenario,
                        "truth_ml": r.truth_ml,
                        "voxelised_truth_ml": r.voxelised_ml,
                        "true_change_pct": r.true_pct,
                        "warped_label_change_pct": r.check_pct,
                        "voxelised_label_change_pct": None
                        if r.voxelised_ml is None
                        else 100.0 * (r.voxelised_ml - base_ml) / base_ml,
                        "motion": r.motion,
                        "expected_status": r.expected,
                    }
                    for r in rows
                ],
            },
            indent=1,
        )
    )
    return manifest, rows


def _reviews(entry: dict[str, Any] | None) -> list[str]:
    if not entry:
        return []
    value = entry.get("review") or []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def read_report(outdir: Path, rows: list[Row]) -> None:
    """Fill each row's measured figures from OUTDIR/report.json."""
    report = json.loads((outdir / "report.json").read_text())
    errors = {(e.get("patient_id"), e.get("date")): e.get("message", "") for e in report["errors"]}
    by_patient = {p["patient_id"]: p for p in report["patients"]}
    for pid in {r.patient for r in rows}:
        mine = [r for r in rows if r.patient == pid]
        patient = by_patient.get(pid)
        if patient is None or not patient.get("assessments"):
            message = next((m for (p, _), m in errors.items() if p == pid), "no result")
            for r in mine:
                r.error = message
            mine[-1].reported = "error"
            continue
        assessment = patient["assessments"][0]
        points = {t["date"]: t for t in assessment["timepoints"]}
        mtimes: list[float | None] = []
        for r in mine:
            t = points.get(r.date)
            if t is None:
                r.error = "visit missing from the report"
                mtimes.append(None)
                continue
            r.measured = t.get("change_from_baseline_pct")
            r.measured_ml = t.get("total_volume_ml")
            r.registration = t.get("change_registration_pct")
            lesion = (t.get("lesions") or {}).get("L1") or {}
            reasons = _reviews(t)
            reasons += [
                v for v in _reviews(lesion) if v not in reasons and f"L1: {v}" not in reasons
            ]
            r.reviews = tuple(dict.fromkeys(reasons))
            r.warnings = tuple(str(w) for w in lesion.get("warnings") or ())
            mask = lesion.get("mask")
            path = outdir / mask if mask else None
            mtimes.append(path.stat().st_mtime if path is not None and path.exists() else None)
        for n in range(1, len(mine)):
            if mtimes[n] is not None and mtimes[n - 1] is not None:
                mine[n].seconds = mtimes[n] - mtimes[n - 1]  # type: ignore[operator]
        mine[-1].reported = str(assessment.get("status"))


# -------------------------------------------------------------------------------------- output


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:+.1f}%"


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _ml(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}" if v < 10 else f"{v:.2f}"


def _err(measured: float | None, truth: float | None) -> float | None:
    return None if measured is None or truth is None else measured - truth


def print_table(rows: list[Row]) -> list[str]:
    notes: list[str] = []
    print(
        "\n| case | pt | date | scenario | truth mL | measured mL | true change | warped label | "
        "measured (seg) | registration | error seg / reg | review | expected | reported | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        last = r is [x for x in rows if x.patient == r.patient][-1]
        es, er = _err(r.measured, r.true_pct), _err(r.registration, r.true_pct)
        errs = "" if r.visit.kind == "baseline" else f"{_pct(es)} / {_pct(er)}"
        review = ""
        if r.reviews or r.warnings or r.error:
            notes.append(
                f"[{len(notes) + 1}] {r.patient} {r.date}: "
                + "; ".join(
                    [f"REVIEW {_short(v)}" for v in r.reviews]
                    + [f"warning {_short(w)}" for w in r.warnings]
                    + ([f"ERROR {r.error}"] if r.error else [])
                )
            )
            review = f"{'yes' if r.reviews else 'no'} [{len(notes)}]"
        status = f"{r.expected} | {r.reported}" if last else f"({r.expected}) | "
        seconds = "-" if r.seconds is None else f"{r.seconds:.1f}"
        print(
            f"| {r.case} | {r.patient.rsplit('-', 1)[1]} | {r.date} | {r.visit.scenario} | "
            f"{_ml(r.truth_ml)} | {_ml(r.measured_ml)} | {_pct(r.true_pct)} | "
            f"{_pct(r.check_pct)} | {_pct(r.measured)} | "
            f"{_pct(r.registration)} | {errs} | {review} | {status} | {seconds} |"
        )
    return notes


def print_summary(rows: list[Row]) -> None:
    follow = [r for r in rows if r.visit.kind != "baseline"]
    identical = [r for r in follow if r.visit.kind == "identical"]
    print("\n## Summary\n")
    same = [abs(r.measured) for r in identical if r.measured is not None]
    print(
        "- identical-file revisit: "
        + ", ".join(f"{r.case} {_pct(r.measured)}" for r in identical)
        + (f" (worst |change| {max(same):.2f}%; target 0.0%)" if same else "")
    )
    for label, attr in (("segmentation", "measured"), ("registration", "registration")):
        errors = [
            (abs(getattr(r, attr) - r.true_pct), r)
            for r in follow
            if getattr(r, attr) is not None and r.true_pct is not None
        ]
        unflagged = [e for e, r in errors if not r.reviews]
        if not errors:
            print(f"- |change error| ({label}): no figures over {len(follow)} follow-ups")
            continue
        worst, wr = max(errors, key=lambda e: e[0])
        print(
            f"- |change error| ({label}) over {len(errors)} of {len(follow)} follow-ups: median "
            f"{statistics.median(e for e, _ in errors):.1f}, worst {worst:.1f} points "
            f"({wr.patient} {wr.date}); unflagged only ({len(unflagged)}): "
            + (
                f"median {statistics.median(unflagged):.1f}, worst {max(unflagged):.1f}"
                if unflagged
                else "-"
            )
            + "  (targets: median <= 3, worst <= 5)"
        )
    _print_quantisation(rows)
    finals = [
        [x for x in rows if x.patient == p][-1] for p in dict.fromkeys(r.patient for r in rows)
    ]
    right = [r for r in finals if r.reported == r.expected]
    flagged = [r for r in finals if r.reported == "not_evaluable"]
    failed = [r for r in finals if r.reported in ("error", "")]
    wrong = [r for r in finals if r not in right and r not in flagged and r not in failed]
    print(
        f"- statuses: {len(right)} of {len(finals)} right, {len(flagged)} flagged "
        f"(not_evaluable), {len(wrong)} wrong, {len(failed)} failed"
        + (
            "; wrong: " + ", ".join(f"{r.patient} {r.reported} (truth {r.expected})" for r in wrong)
            if wrong
            else ""
        )
    )
    both = [
        (abs(r.measured - r.registration), r)
        for r in follow
        if r.measured is not None and r.registration is not None and not r.reviews
    ]
    if both:
        worst, wr = max(both, key=lambda e: e[0])
        print(
            f"- both estimates unflagged at {len(both)} follow-ups: worst disagreement "
            f"{worst:.1f} points ({wr.patient} {wr.date}) (target <= 5)"
        )
    else:
        print("- both estimates unflagged at 0 follow-ups (no registration-based figure yet?)")
    print(
        "- baseline volume against the label: "
        + ", ".join(
            f"{r.case} {_pct(_err(r.measured_ml, r.truth_ml) / r.truth_ml * 100)}"  # type: ignore[operator]
            for r in rows
            if r.visit.kind == "baseline" and r.patient.endswith("-A") and r.measured_ml
        )
        + " (segmentation accuracy at the prompt: docs/accuracy.md; the change is against it)"
    )
    flagged_visits = [r for r in follow if r.reviews]
    print(f"- follow-ups flagged for review: {len(flagged_visits)} of {len(follow)}")


def _print_quantisation(rows: list[Row]) -> None:
    """The change error of the ideal voxel mask (the voxels at least half inside the warped
    label, counted): what rounding each border voxel at half its partial volume moves a count
    on these grids (one mask's error, not a bound)."""
    baseline_ml = {
        r.case: r.truth_ml for r in rows if r.visit.kind == "baseline" and r.truth_ml is not None
    }
    errors = [
        (abs(100.0 * (r.voxelised_ml - r.truth_ml) / baseline_ml[r.case]), r)
        for r in rows
        if r.visit.kind not in ("baseline", "identical")
        and r.voxelised_ml is not None
        and r.truth_ml is not None
        and baseline_ml.get(r.case)
    ]
    if not errors:
        return
    worst_by_case: dict[str, float] = {}
    for e, r in errors:
        worst_by_case[r.case] = max(worst_by_case.get(r.case, 0.0), e)
    worst, wr = max(errors, key=lambda e: e[0])
    print(
        f"- |change error| of the ideal voxel mask (the true partial-volume map >= 0.5, voxels "
        f"counted: what rounding each border voxel at 0.5 moves a count; not a bound) over "
        f"{len(errors)} follow-ups: median {statistics.median(e for e, _ in errors):.1f}, worst "
        f"{worst:.1f} points ({wr.patient} {wr.date}); worst per case: "
        + ", ".join(f"{case} {e:.1f}" for case, e in worst_by_case.items())
    )


def _sitk_read(path: Path) -> Callable[[], object]:
    if path.is_dir():
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(path)))
        return reader.Execute
    return lambda: sitk.ReadImage(str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    all_cases = [name for name, *_ in REAL + HELD_OUT] + [f"kits-{c}" for c in KITS]
    parser.add_argument("--cases", help="comma-separated subset of: " + ", ".join(all_cases))
    parser.add_argument(
        "--held-out",
        action="store_true",
        help="also run the held-out targets: " + ", ".join(name for name, *_ in HELD_OUT),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: patients {'+'.join(QUICK_PATIENTS)} of {', '.join(QUICK_CASES)}",
    )
    parser.add_argument(
        "--reslice",
        choices=("linear", "cubic"),
        default="linear",
        help="the follow-ups' interpolation (default linear: the protocol of every recorded "
        "run; cubic B-splines blur them less, as an acquired scan is not interpolated)",
    )
    parser.add_argument(
        "--reprompt",
        action="store_true",
        help="give every follow-up the protocol's click on its own true label (no box) instead "
        "of carrying it: a reader who re-prompts each visit (docs/accuracy.md, fifth session)",
    )
    parser.add_argument("--keep", type=Path, help="write the cases here and keep them")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    names = set(args.cases.split(",")) if args.cases else set(QUICK_CASES) if args.quick else None
    if names is not None and names - set(all_cases):
        parser.error(f"unknown cases: {', '.join(sorted(names - set(all_cases)))}")
    if names is not None and args.held_out:
        names |= {name for name, *_ in HELD_OUT}
    patients = QUICK_PATIENTS if args.quick else tuple(PATIENTS)
    start = time.perf_counter()
    root = args.keep or Path(tempfile.mkdtemp(prefix="change_precision_"))
    root.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    timings = []
    try:
        sources = load_sources(names, args.held_out)
        for source in sources:
            t0 = time.perf_counter()
            folder = root / source.name
            if folder.exists():
                shutil.rmtree(folder)
            manifest, case_rows = build_case(
                source, folder, patients, cubic=args.reslice == "cubic", reprompt=args.reprompt
            )
            t_build = time.perf_counter() - t0
            t0 = time.perf_counter()
            try:
                tscimg.track(manifest, folder / "out", jobs=args.jobs, resume=False)
                read_report(folder / "out", case_rows)
            except Exception as exc:  # the pipeline is under construction: report, go on
                for r in case_rows:
                    r.error = f"{type(exc).__name__}: {exc}"
                case_rows[-1].reported = "error"
            t_track = time.perf_counter() - t0
            moved = next(
                (r for r in case_rows if r.visit.kind == "changed"), None
            )  # one follow-up file: SimpleITK's read time of it is the floor
            floor = None
            if moved is not None:
                stem = folder / f"{moved.patient}_{moved.date}"
                floor = median_seconds(
                    _sitk_read(stem if source.dicom else stem.with_suffix(".nii")), 3
                )
            g = source.scan.geometry
            visits = len(case_rows)
            timings.append((source.name, g, t_build, t_track, visits, floor))
            print(
                f"{source.name}: {' x '.join(map(str, g.size))} at "
                f"{' x '.join(f'{s:.2f}' for s in g.spacing_mm)} mm, tumour "
                f"{source.truth.sum() * g.voxel_volume_mm3 / 1000:.3f} mL; "
                f"built in {t_build:.1f} s, "
                f"tracked {visits} visits in {t_track:.1f} s (jobs {args.jobs}); SimpleITK "
                f"read of one follow-up {'-' if floor is None else f'{floor:.2f} s'}",
                flush=True,
            )
            rows.extend(case_rows)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    if not rows:
        print("no cases: nothing to measure (is ../shared/data present?)")
        return
    notes = print_table(rows)
    if notes:
        print("\nReview reasons, warnings and errors:\n")
        print("\n".join(notes))
    print_summary(rows)
    total = time.perf_counter() - start
    tracked = sum(t[3] for t in timings)
    print(
        f"- run time {total / 60:.1f} min ({tracked:.0f} s in tscimg.track, "
        f"{sum(t[4] for t in timings)} visits, {len(timings)} cases)"
    )


if __name__ == "__main__":
    main()
