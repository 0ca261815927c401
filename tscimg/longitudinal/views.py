"""Lesion views for reports: three orthogonal planes through the lesion, every visit alike.

Each plane is resampled from the scan onto a true anatomical plane of the patient through the
lesion's centroid, over the same square field of view at every visit of that lesion, whatever
the acquisition's obliquity or the patient's position:

- **axial**: patient's right on the viewer's left, anterior at the top (radiological convention);
- **coronal**: patient's right on the left, superior at the top;
- **sagittal**: anterior on the left, superior at the top.

A 2D echo frame has no patient orientation: its single view is the image plane itself, with no
orientation letters. Each plane keeps the lesion's outline, where the scan covers the field
(``covered``: outside it nothing was imaged), and, at a follow-up, the reference visit's outline
carried by the registration (``reference``) for comparison.

Examples
--------
>>> import numpy as np, SimpleITK as sitk
>>> from tscimg.core.geometry import Geometry
>>> g = Geometry((40, 40, 20), (1.0, 1.0, 2.0), (-20.0, -20.0, -20.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
>>> labels = np.zeros((20, 40, 40), dtype=np.uint8); labels[8:12, 15:25, 15:25] = 1
>>> scan = Scan(g.apply_to(sitk.GetImageFromArray(labels.astype(np.int16) * 100)))
>>> view = lesion_view(scan, Mask.from_array(labels, g), field_of_view_mm=32.0, pixels=32)
>>> [(p.plane.value, int(p.mask.sum())) for p in view.planes]
[('axial', 100), ('coronal', 80), ('sagittal', 80)]
>>> view.planes[0].letters, view.pixel_mm
(('R', 'L', 'A', 'P'), 1.0)
>>> bool((LesionView.from_dict(view.to_dict()).planes[1].mask == view.planes[1].mask).all())
True
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import SimpleITK as sitk

from tscimg.core.mask import Mask, bounding_box
from tscimg.core.scan import Scan
from tscimg.core.vocabularies import Modality

#: CT display window for soft tissue and fat, HU (level 0, width 500).
CT_WINDOW_HU = (-250.0, 250.0)
#: The display range of other modalities: these percentiles of the covered view pixels.
PERCENTILE_WINDOW = (0.5, 99.5)


class ViewPlane(StrEnum):
    """The planes a lesion is shown in."""

    AXIAL = "axial"
    CORONAL = "coronal"
    SAGITTAL = "sagittal"
    IMAGE = "image plane"  # a 2D frame (echo): no patient orientation


#: Per plane: the LPS direction of the view's columns (left to right) and rows (top to
#: bottom), and the letters at the left, right, top and bottom edges.
_ANATOMICAL: dict[ViewPlane, tuple[tuple[float, ...], tuple[float, ...], tuple[str, ...]]] = {
    ViewPlane.AXIAL: ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), ("R", "L", "A", "P")),
    ViewPlane.CORONAL: ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0), ("R", "L", "S", "I")),
    ViewPlane.SAGITTAL: ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0), ("A", "P", "S", "I")),
}


def _bits(array: np.ndarray) -> str:
    return base64.b64encode(np.packbits(array.astype(bool)).tobytes()).decode()


def _unbits(text: str, shape: tuple[int, ...]) -> np.ndarray:
    bits = np.frombuffer(base64.b64decode(text), dtype=np.uint8)
    return np.unpackbits(bits)[: int(np.prod(shape))].reshape(shape).astype(bool)


@dataclass(frozen=True)
class PlaneView:
    """One plane through a lesion: display grey levels and masks on one square pixel grid.

    Parameters
    ----------
    plane
        Which plane.
    image
        ``(rows, columns)`` uint8 grey levels (the view's window mapped to 0-255).
    mask
        ``(rows, columns)`` bool: the lesion.
    covered
        ``(rows, columns)`` bool: inside the scan (outside, nothing was imaged).
    reference
        ``(rows, columns)`` bool: the reference visit's lesion carried by the registration, or
        ``None`` (a baseline, a prompted visit without a registration, a 2D frame).
    letters
        Patient directions at the left, right, top and bottom edges (``None``: a 2D frame
        without patient orientation).
    """

    plane: ViewPlane
    image: np.ndarray
    mask: np.ndarray
    covered: np.ndarray
    reference: np.ndarray | None = None
    letters: tuple[str, str, str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (pixels base64-encoded)."""
        return {
            "plane": self.plane.value,
            "shape": list(self.image.shape),
            "image_u8_b64": base64.b64encode(self.image.astype(np.uint8).tobytes()).decode(),
            "mask_bits_b64": _bits(self.mask),
            "covered_bits_b64": _bits(self.covered),
            "reference_bits_b64": None if self.reference is None else _bits(self.reference),
            "letters": None if self.letters is None else list(self.letters),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PlaneView:
        """Inverse of :meth:`to_dict`."""
        shape = tuple(int(v) for v in d["shape"])
        image = np.frombuffer(base64.b64decode(d["image_u8_b64"]), dtype=np.uint8).reshape(shape)
        letters = d["letters"]
        return cls(
            ViewPlane(d["plane"]),
            image.copy(),
            _unbits(d["mask_bits_b64"], shape),
            _unbits(d["covered_bits_b64"], shape),
            None if d["reference_bits_b64"] is None else _unbits(d["reference_bits_b64"], shape),
            None if letters is None else (letters[0], letters[1], letters[2], letters[3]),
        )


@dataclass(frozen=True)
class LesionView:
    """A lesion at one visit in three orthogonal planes (one for a 2D frame).

    Parameters
    ----------
    planes
        Axial, coronal and sagittal (or the image plane of a 2D frame).
    pixel_mm
        Pixel size, mm (square pixels, the same in every plane).
    centre_lps
        Where the planes cross (the lesion's centroid), LPS mm.
    window
        Intensities mapped to 0 and 255.
    window_basis
        How the window was chosen (a fixed CT window, or percentiles of the view).
    modality
        The scan's modality (DICOM code), if known.
    frame
        For a 2D cine: the frame shown.
    reference_date
        The visit whose outline ``reference`` carries (``None``: none shown).
    """

    planes: tuple[PlaneView, ...]
    pixel_mm: float
    centre_lps: tuple[float, float, float]
    window: tuple[float, float]
    window_basis: str = ""
    modality: str | None = None
    frame: int | None = None
    reference_date: str | None = None

    @property
    def field_of_view_mm(self) -> float:
        """Side of the square field shown, mm."""
        return self.pixel_mm * self.planes[0].image.shape[1]

    @property
    def is_planar(self) -> bool:
        """Whether this is a 2D frame's single image plane."""
        return self.planes[0].plane is ViewPlane.IMAGE

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (pixels base64-encoded)."""
        return {
            "planes": [p.to_dict() for p in self.planes],
            "pixel_mm": self.pixel_mm,
            "centre_lps": list(self.centre_lps),
            "window": list(self.window),
            "window_basis": self.window_basis,
            "modality": self.modality,
            "frame": self.frame,
            "reference_date": self.reference_date,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LesionView:
        """Inverse of :meth:`to_dict` (a ``KeyError`` for another format)."""
        c = d["centre_lps"]
        return cls(
            tuple(PlaneView.from_dict(p) for p in d["planes"]),
            float(d["pixel_mm"]),
            (float(c[0]), float(c[1]), float(c[2])),
            (float(d["window"][0]), float(d["window"][1])),
            str(d["window_basis"]),
            d["modality"],
            d["frame"],
            d["reference_date"],
        )


def _window(values: np.ndarray, modality: Modality | None) -> tuple[tuple[float, float], str]:
    if modality is Modality.CT:
        lo, hi = CT_WINDOW_HU
        return (
            CT_WINDOW_HU,
            f"CT window {lo:g} to {hi:g} HU (level {(lo + hi) / 2:g}, width {hi - lo:g})",
        )
    finite = values[np.isfinite(values)]
    p_lo, p_hi = PERCENTILE_WINDOW
    basis = f"{p_lo:g}-{p_hi:g}th percentile of the view"
    if finite.size == 0:
        return (0.0, 1.0), basis
    lo, hi = (float(v) for v in np.percentile(finite, [p_lo, p_hi]))
    return (lo, hi if hi > lo else lo + 1.0), basis


def _plane_grid(
    columns: np.ndarray, rows: np.ndarray, centre: np.ndarray, pixel: float, pixels: int
) -> sitk.Image:
    """A one-pixel-thick grid whose columns and rows run along ``columns`` and ``rows`` (LPS)."""
    normal = np.cross(columns, rows)
    half = (pixels - 1) / 2.0 * pixel
    grid = sitk.Image(pixels, pixels, 1, sitk.sitkFloat32)
    grid.SetSpacing((pixel, pixel, pixel))
    grid.SetOrigin(tuple(float(v) for v in centre - half * columns - half * rows))
    grid.SetDirection(tuple(float(v) for v in np.column_stack([columns, rows, normal]).ravel()))
    return grid


def _mask_block(mask: Mask) -> sitk.Image | None:
    """The mask's bounding block plus a zero margin, as float (only that part is resampled)."""
    selected = mask.array_view() > 0
    box = bounding_box(selected)
    if box is None:
        return None
    lo = [max(b.start - 1, 0) for b in box[::-1]]
    hi = [min(b.stop + 1, n) for b, n in zip(box[::-1], mask.geometry.size, strict=True)]
    block = sitk.RegionOfInterest(mask.image, [h - lo_ for lo_, h in zip(lo, hi, strict=True)], lo)
    return sitk.Cast(block > 0, sitk.sitkFloat32)


def _inside(block: sitk.Image | None, grid: sitk.Image) -> np.ndarray:
    shape = (grid.GetSize()[1], grid.GetSize()[0])
    if block is None:
        return np.zeros(shape, dtype=bool)
    fraction = sitk.Resample(block, grid, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    return np.asarray(sitk.GetArrayFromImage(fraction)[0] >= 0.5)


def lesion_view(
    scan: Scan,
    mask: Mask,
    field_of_view_mm: float,
    pixels: int = 320,
    centre_lps: tuple[float, float, float] | None = None,
    reference: Mask | None = None,
    reference_date: str | None = None,
) -> LesionView:
    """The orthogonal planes through ``mask``'s centroid (or ``centre_lps``) over a square field.

    Parameters
    ----------
    scan, mask
        A visit's scan and the lesion's mask on its grid.
    field_of_view_mm
        Side of the square field, mm (use the same for every visit of a lesion).
    pixels
        Side of each plane in pixels.
    centre_lps
        Where to centre the planes; the mask's centroid by default.
    reference, reference_date
        At a follow-up: the reference visit's lesion carried onto this scan's grid by the
        registration, and that visit's date (drawn beside this visit's outline).
    """
    mask.require_on(scan.geometry, scan.source or "the scan")
    g = mask.geometry
    selected = mask.array_view() > 0
    box = bounding_box(selected)
    if box is None:
        raise ValueError("the mask is empty")
    if centre_lps is None:
        offset = np.array([b.start for b in box])
        kji = np.argwhere(selected[box]).mean(axis=0) + offset
        centroid = g.index_to_lps(kji[::-1])
        centre_lps = (centroid[0], centroid[1], centroid[2])
    centre = np.asarray(centre_lps, dtype=float)
    pixel = field_of_view_mm / pixels
    source = scan.image
    if source.GetNumberOfComponentsPerPixel() > 1:
        source = sitk.VectorIndexSelectionCast(source, 0)
    layout: list[tuple[ViewPlane, np.ndarray, np.ndarray, tuple[str, str, str, str] | None]]
    if scan.is_planar:  # the frame's own plane: its columns and rows, no patient orientation
        d = np.asarray(g.direction).reshape(3, 3)
        layout = [(ViewPlane.IMAGE, d[:, 0], d[:, 1], None)]
    else:
        layout = [
            (
                plane,
                np.asarray(cols),
                np.asarray(rows),
                (letters[0], letters[1], letters[2], letters[3]),
            )
            for plane, (cols, rows, letters) in _ANATOMICAL.items()
        ]
    lesion_block = _mask_block(mask)
    reference_block = None if reference is None else _mask_block(reference)
    if reference is not None:
        reference.require_on(scan.geometry, scan.source or "the scan")
    sampled = []
    for plane, cols, rows, letters in layout:
        grid = _plane_grid(cols, rows, centre, pixel, pixels)
        grey = sitk.Resample(
            source, grid, sitk.Transform(), sitk.sitkLinear, np.nan, sitk.sitkFloat32
        )
        values = sitk.GetArrayFromImage(grey)[0]
        carried = None if reference is None else _inside(reference_block, grid)
        sampled.append((plane, values, _inside(lesion_block, grid), carried, letters))
    window, basis = _window(np.concatenate([s[1].ravel() for s in sampled]), scan.modality)
    planes = []
    for plane, values, inside, carried, letters in sampled:
        covered = np.isfinite(values)
        scaled = (np.nan_to_num(values, nan=window[0]) - window[0]) / (window[1] - window[0])
        image = np.clip(np.rint(255.0 * scaled), 0, 255).astype(np.uint8)
        planes.append(PlaneView(plane, image, inside, covered, carried, letters))
    return LesionView(
        tuple(planes),
        pixel,
        (float(centre[0]), float(centre[1]), float(centre[2])),
        window,
        basis,
        None if scan.modality is None else scan.modality.value,
        scan.frame_index if scan.is_planar else None,
        reference_date if reference is not None else None,
    )
