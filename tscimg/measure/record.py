"""One typed record of a lesion's figures at one visit, however it was measured.

:func:`measure_lesion` is the one place that decides how a mask is measured: a 3D grid by
voxels (:func:`~tscimg.measure.lesions.measure_mask`), a single 2D frame (an echo view) by its
area (:func:`~tscimg.measure.planar.measure_planar`). Both give a :class:`LesionRecord`: the
volume, its uncertainty and how it was obtained, the lengths, the centroid, and the 3D or planar
detail. It becomes a plain dict only in report.json and the resume state (:meth:`to_dict`,
:meth:`from_dict`).

Examples
--------
>>> import numpy as np
>>> from tscimg.core.geometry import Geometry
>>> from tscimg.core.mask import Mask
>>> g = Geometry((20, 20, 20), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
>>> cube = np.zeros((20, 20, 20), dtype=np.uint8); cube[5:15, 5:15, 5:15] = 1
>>> record = measure_lesion(Mask.from_array(cube, g)).record
>>> record.volume_ml, record.volume_method.name, record.voxel_count
(1.0, 'VOXELS_3D', 1000)
>>> LesionRecord.from_dict(record.to_dict()) == record
True
>>> flat = Geometry((20, 20, 1), (0.5, 0.5, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
>>> disc = np.zeros((1, 20, 20), dtype=np.uint8); disc[0, 4:16, 6:14] = 1
>>> frame = measure_lesion(Mask.from_array(disc, flat)).record
>>> frame.volume_method.name, frame.max_3d_diameter_mm, frame.planar.area_mm2
('SINGLE_PLANE', None, 24.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import SimpleITK as sitk

from tscimg.core.mask import Mask
from tscimg.core.vocabularies import VolumeMethod
from tscimg.measure.lesions import (
    LesionMeasurement,
    MaskMeasurement,
    MeasureParameters,
    measure_mask,
    require_mask,
)
from tscimg.measure.planar import PlanarMeasurement, biplane_volume_ml, measure_planar


@dataclass(frozen=True)
class SecondView:
    """The second 2D view of a biplane volume (the first view is the record's own)."""

    image: str
    frame: int | None
    mask: str | None
    area_mm2: float
    long_axis_mm: float
    longest_diameter_mm: float
    perpendicular_diameter_mm: float


#: The figures of DESIGN.md section 4's ``measure`` output that a 2D frame does not have.
THREE_D_ONLY_KEYS = ("mesh_volume_ml", "surface_area_mm2", "orthogonal_diameters_mm")


@dataclass(frozen=True)
class LesionRecord:
    """A lesion's figures at one visit.

    Parameters
    ----------
    volume_ml
        The lesion's volume, mL, obtained as ``volume_method`` says.
    volume_uncertainty_ml
        Its uncertainty (the boundary-shift models of docs/measurement.md), mL.
    volume_method
        How the volume was obtained (voxels, single-plane or biplane area-length).
    voxel_count
        Voxels (3D) or pixels (2D) of the mask.
    axial_longest_diameter_mm
        Longest diameter on an acquisition slice (3D), or in the frame's plane (2D), mm.
    max_3d_diameter_mm
        Largest distance across the 3D surface, mm; ``None`` for a 2D frame (not measured).
    centroid_lps
        The mask's centroid, LPS mm.
    volumetric
        The 3D detail (mesh volume, surface, orthogonal diameters, ...); ``None`` for 2D.
    planar
        The 2D detail (area, long axis, ...) of the (first) view; ``None`` for 3D.
    single_plane_volume_ml
        Biplane only: the first view's own single-plane volume, mL.
    second_view
        Biplane only: the second view.
    """

    volume_ml: float
    volume_uncertainty_ml: float
    volume_method: VolumeMethod
    voxel_count: int
    axial_longest_diameter_mm: float
    max_3d_diameter_mm: float | None
    centroid_lps: tuple[float, float, float]
    volumetric: LesionMeasurement | None = None
    planar: PlanarMeasurement | None = None
    single_plane_volume_ml: float | None = None
    second_view: SecondView | None = None

    @property
    def length_mm(self) -> float:
        """The lesion's length: its maximum 3D diameter, or the longest in-plane one in 2D."""
        if self.max_3d_diameter_mm is not None:
            return self.max_3d_diameter_mm
        return self.axial_longest_diameter_mm

    @classmethod
    def of_figures(
        cls,
        volume_ml: float,
        volume_uncertainty_ml: float = 0.0,
        axial_longest_diameter_mm: float = 0.0,
        max_3d_diameter_mm: float | None = None,
        volume_method: VolumeMethod = VolumeMethod.VOXELS_3D,
    ) -> LesionRecord:
        """A record of the headline figures alone, without the 3D or planar detail (figures
        measured elsewhere, e.g. by a peer tool, assessed with tscimg's response rules).

        Examples
        --------
        >>> LesionRecord.of_figures(4.2, 0.3, 21.0).length_mm
        21.0
        """
        return cls(
            volume_ml=volume_ml,
            volume_uncertainty_ml=volume_uncertainty_ml,
            volume_method=volume_method,
            voxel_count=0,
            axial_longest_diameter_mm=axial_longest_diameter_mm,
            max_3d_diameter_mm=max_3d_diameter_mm,
            centroid_lps=(0.0, 0.0, 0.0),
        )

    @classmethod
    def from_volumetric(cls, m: LesionMeasurement) -> LesionRecord:
        """The record of a 3D measurement (volume by voxel count)."""
        return cls(
            volume_ml=m.volume_ml,
            volume_uncertainty_ml=m.volume_uncertainty_ml,
            volume_method=VolumeMethod.VOXELS_3D,
            voxel_count=m.voxel_count,
            axial_longest_diameter_mm=m.axial_longest_diameter_mm,
            max_3d_diameter_mm=m.max_3d_diameter_mm,
            centroid_lps=m.centroid_lps,
            volumetric=replace(m, label=None, component=None),
        )

    @classmethod
    def from_planar(cls, m: PlanarMeasurement) -> LesionRecord:
        """The record of one 2D frame: the single-plane area-length volume."""
        return cls(
            volume_ml=m.area_length_volume_ml,
            volume_uncertainty_ml=m.area_length_uncertainty_ml,
            volume_method=VolumeMethod.SINGLE_PLANE,
            voxel_count=m.pixel_count,
            axial_longest_diameter_mm=m.longest_diameter_mm,
            max_3d_diameter_mm=None,
            centroid_lps=m.centroid_lps,
            planar=m,
        )

    def with_second_view(self, second: LesionRecord, view: SecondView) -> LesionRecord:
        """The biplane record of two 2D views sharing the long axis (``self`` is the first).

        Raises
        ------
        ValueError
            When either record is not a single 2D view.
        """
        a, b = self.planar, second.planar
        if a is None or b is None or self.second_view is not None:
            raise ValueError("a biplane volume needs two single 2D views")
        # both views contain the long axis: its length is the mean of their two estimates
        length = 0.5 * (a.long_axis_mm + b.long_axis_mm)
        volume = biplane_volume_ml(a.area_mm2, b.area_mm2, length)
        # two frames: independent outlines; the long axis's error as in the single-plane volume
        relative = math.hypot(
            a.area_uncertainty_mm2 / a.area_mm2 if a.area_mm2 > 0 else 0.0,
            b.area_uncertainty_mm2 / b.area_mm2 if b.area_mm2 > 0 else 0.0,
            a.long_axis_uncertainty_mm / length if length > 0 else 0.0,
        )
        return replace(
            self,
            volume_ml=volume,
            volume_uncertainty_ml=volume * relative,
            volume_method=VolumeMethod.BIPLANE,
            single_plane_volume_ml=self.volume_ml,
            second_view=view,
        )

    def to_dict(self) -> dict[str, Any]:
        """The flat record of report.json's ``lesions`` entries (and the resume state)."""
        detail: dict[str, Any] = {}
        if self.volumetric is not None:
            detail = self.volumetric.to_dict()
            for key in ("label", "component"):
                detail.pop(key, None)
        if self.planar is not None:
            # every key of DESIGN.md section 4's measure output, null where a 2D frame has
            # none (a script reading d["mesh_volume_ml"] gets None, not a KeyError)
            detail = dict.fromkeys(THREE_D_ONLY_KEYS) | self.planar.to_dict()
        out = {
            **detail,
            "volume_ml": self.volume_ml,
            "volume_uncertainty_ml": self.volume_uncertainty_ml,
            "volume_method": self.volume_method.value,
            "voxel_count": self.voxel_count,
            "axial_longest_diameter_mm": self.axial_longest_diameter_mm,
            "max_3d_diameter_mm": self.max_3d_diameter_mm,
            "centroid_lps": list(self.centroid_lps),
        }
        if self.second_view is not None:
            out["single_plane_volume_ml"] = self.single_plane_volume_ml
            out["second_view"] = asdict(self.second_view)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LesionRecord:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        KeyError, ValueError, TypeError
            When ``d`` is not such a record (an older resume state: the patient is recomputed).
        """
        method = VolumeMethod(d["volume_method"])
        volumetric = planar = None
        if method is VolumeMethod.VOXELS_3D and "mesh_volume_ml" in d:
            values = {f.name: d[f.name] for f in fields(LesionMeasurement) if f.name in d}
            values["orthogonal_diameters_mm"] = tuple(values["orthogonal_diameters_mm"])
            values["centroid_lps"] = tuple(values["centroid_lps"])
            volumetric = LesionMeasurement(**values)
        elif method is not VolumeMethod.VOXELS_3D and "area_mm2" in d:
            values = {f.name: d[f.name] for f in fields(PlanarMeasurement) if f.name in d}
            values["centroid_lps"] = tuple(values["centroid_lps"])
            planar = PlanarMeasurement(**values)
        second = d.get("second_view")
        x, y, z = (float(v) for v in d["centroid_lps"])
        return cls(
            volume_ml=float(d["volume_ml"]),
            volume_uncertainty_ml=float(d["volume_uncertainty_ml"]),
            volume_method=method,
            voxel_count=int(d["voxel_count"]),
            axial_longest_diameter_mm=float(d["axial_longest_diameter_mm"]),
            max_3d_diameter_mm=None
            if d.get("max_3d_diameter_mm") is None
            else float(d["max_3d_diameter_mm"]),
            centroid_lps=(x, y, z),
            volumetric=volumetric,
            planar=planar,
            single_plane_volume_ml=d.get("single_plane_volume_ml"),
            second_view=None if second is None else SecondView(**second),
        )


@dataclass(frozen=True)
class MeasuredLesion:
    """What :func:`measure_lesion` gives: the record, and for a 3D mask the full measurement
    (each connected component, the slice axis, the parameters: ``tscimg measure``'s JSON)."""

    record: LesionRecord
    volumetric: MaskMeasurement | None
    warnings: tuple[str, ...] = ()


def single_slice_last(mask: Mask) -> Mask:
    """``mask`` with its one-voxel-thick axis last, when it has one along i or j (the same
    voxels at the same physical places: the axes permuted with their spacing and direction).

    A single slice stored as ``[1, n, n]`` (a sagittal slice, or a KiTS-style file whose first
    axis is the slice axis) was measured as a 3D slab, and the same slice stored ``[n, n, 1]``
    as a 2D frame: 0.551 against 0.869 mL for one disc. Both are one plane now.

    Examples
    --------
    >>> import numpy as np
    >>> from tscimg.core.geometry import Geometry
    >>> g = Geometry((1, 6, 8), (5.0, 0.7, 0.8), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    >>> single_slice_last(Mask.from_array(np.ones((8, 6, 1), np.uint8), g)).geometry.size
    (6, 8, 1)
    """
    size = mask.geometry.size
    if len(size) != 3 or size[2] == 1 or 1 not in size[:2]:
        return mask
    thin = 0 if size[0] == 1 else 1
    order = [axis for axis in range(3) if axis != thin] + [thin]
    return replace(mask, image=sitk.PermuteAxes(mask.image, order))


def measure_lesion(
    mask: Mask, parameters: MeasureParameters | None = None, label: int | None = None
) -> MeasuredLesion:
    """Measure a lesion's mask the way its grid calls for: a single 2D frame by its area
    (single-plane area-length volume), anything else by its voxels in 3D.

    Parameters
    ----------
    mask
        The lesion's mask (all positive labels, or one ``label``).
    parameters
        Measuring settings (connectivity, size filter, boundary-shift models).
    label
        Measure this label value only.

    Raises
    ------
    MaskError
        When the mask (or the label) is empty, or ``mask`` is not a :class:`~tscimg.Mask`.
    """
    require_mask(mask, "measure_lesion()")
    params = parameters or MeasureParameters()
    mask = single_slice_last(mask)
    if mask.geometry.is_planar:
        planar = measure_planar(mask, params.planar_boundary_shift_fraction, label)
        return MeasuredLesion(LesionRecord.from_planar(planar), None)
    measured = measure_mask(mask, params, label=label)
    return MeasuredLesion(
        LesionRecord.from_volumetric(measured.total), measured, tuple(measured.warnings)
    )
