"""Lesion views for reports: an axial slice through the lesion with its outline, every visit alike.

Each view is resampled onto a true axial plane of the patient (LPS x to the image's right, y
downwards: radiological convention, patient's left on the viewer's right) through the lesion's
centroid, over the same field of view at every visit of that lesion, whatever the acquisition's
obliquity or the patient's position: the same anatomy, centred on the lesion.

Examples
--------
>>> import numpy as np, SimpleITK as sitk
>>> from tscimg.core.geometry import Geometry
>>> g = Geometry((40, 40, 20), (1.0, 1.0, 2.0), (-20.0, -20.0, -20.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
>>> labels = np.zeros((20, 40, 40), dtype=np.uint8); labels[8:12, 15:25, 15:25] = 1
>>> scan = Scan(g.apply_to(sitk.GetImageFromArray(labels.astype(np.int16) * 100)))
>>> view = lesion_view(scan, Mask.from_array(labels, g), field_of_view_mm=32.0, pixels=32)
>>> view.mask.shape, int(view.mask.sum()), view.pixel_mm
((32, 32), 100, 1.0)
>>> bool((LesionView.from_dict(view.to_dict()).mask == view.mask).all())
True
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk

from tscimg.core.mask import Mask, bounding_box
from tscimg.core.scan import Scan
from tscimg.core.vocabularies import Modality

#: CT display window for soft tissue and fat, HU.
CT_WINDOW_HU = (-250.0, 250.0)


@dataclass(frozen=True)
class LesionView:
    """An axial view of a lesion: 8-bit grey levels and the lesion's mask on the same grid.

    Parameters
    ----------
    image
        ``(rows, columns)`` uint8 display grey levels (window in ``window``).
    mask
        ``(rows, columns)`` bool: the lesion on that slice.
    pixel_mm
        Pixel size, mm (square pixels).
    centre_lps
        The slice centre (the lesion's centroid), LPS mm.
    window
        Intensities mapped to 0 and 255.
    """

    image: np.ndarray
    mask: np.ndarray
    pixel_mm: float
    centre_lps: tuple[float, float, float]
    window: tuple[float, float]

    @property
    def field_of_view_mm(self) -> float:
        """Side of the square field shown, mm."""
        return self.pixel_mm * self.image.shape[1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (pixels base64-encoded)."""
        return {
            "shape": list(self.image.shape),
            "image_u8_b64": base64.b64encode(self.image.astype(np.uint8).tobytes()).decode(),
            "mask_bits_b64": base64.b64encode(
                np.packbits(self.mask.astype(bool)).tobytes()
            ).decode(),
            "pixel_mm": self.pixel_mm,
            "centre_lps": list(self.centre_lps),
            "window": list(self.window),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LesionView:
        """Inverse of :meth:`to_dict`."""
        shape = tuple(int(v) for v in d["shape"])
        count = int(np.prod(shape))
        image = np.frombuffer(base64.b64decode(d["image_u8_b64"]), dtype=np.uint8).reshape(shape)
        bits = np.frombuffer(base64.b64decode(d["mask_bits_b64"]), dtype=np.uint8)
        mask = np.unpackbits(bits)[:count].reshape(shape).astype(bool)
        c = d["centre_lps"]
        return cls(
            image.copy(),
            mask,
            float(d["pixel_mm"]),
            (float(c[0]), float(c[1]), float(c[2])),
            (float(d["window"][0]), float(d["window"][1])),
        )


def _window(values: np.ndarray, modality: Modality | None) -> tuple[float, float]:
    if modality is Modality.CT:
        return CT_WINDOW_HU
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = (float(v) for v in np.percentile(finite, [0.5, 99.5]))
    return (lo, hi if hi > lo else lo + 1.0)


def lesion_view(
    scan: Scan,
    mask: Mask,
    field_of_view_mm: float,
    pixels: int = 128,
    centre_lps: tuple[float, float, float] | None = None,
) -> LesionView:
    """The axial view through ``mask``'s centroid (or ``centre_lps``) over a square field.

    Parameters
    ----------
    scan, mask
        A visit's scan and the lesion's mask on its grid.
    field_of_view_mm
        Side of the square field, mm (use the same for every visit of a lesion).
    pixels
        Side of the view in pixels.
    centre_lps
        Where to centre the view; the mask's centroid by default.
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
        centre = g.index_to_lps(kji[::-1])
        centre_lps = (centre[0], centre[1], centre[2])
    pixel = field_of_view_mm / pixels
    half = (pixels - 1) / 2.0 * pixel
    origin = (centre_lps[0] - half, centre_lps[1] - half, centre_lps[2])
    reference = sitk.Image(pixels, pixels, 1, sitk.sitkFloat32)
    reference.SetSpacing((pixel, pixel, pixel))
    reference.SetOrigin(origin)
    source = scan.image
    if source.GetNumberOfComponentsPerPixel() > 1:
        source = sitk.VectorIndexSelectionCast(source, 0)
    grey = sitk.Resample(
        source, reference, sitk.Transform(), sitk.sitkLinear, np.nan, sitk.sitkFloat32
    )
    # only the lesion's block (plus a zero margin) is cast and resampled, not the whole mask
    lo = [max(b.start - 1, 0) for b in box[::-1]]
    hi = [min(b.stop + 1, n) for b, n in zip(box[::-1], g.size, strict=True)]
    block = sitk.RegionOfInterest(mask.image, [h - lo_ for lo_, h in zip(lo, hi, strict=True)], lo)
    outline = sitk.Resample(
        sitk.Cast(block > 0, sitk.sitkFloat32),
        reference,
        sitk.Transform(),
        sitk.sitkLinear,
        0.0,
        sitk.sitkFloat32,
    )
    values = sitk.GetArrayFromImage(grey)[0]
    window = _window(values, scan.modality)
    scaled = (np.nan_to_num(values, nan=window[0]) - window[0]) / (window[1] - window[0])
    image = np.clip(np.rint(255.0 * scaled), 0, 255).astype(np.uint8)
    inside = sitk.GetArrayFromImage(outline)[0] >= 0.5
    return LesionView(image, inside, pixel, centre_lps, window)
