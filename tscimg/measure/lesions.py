"""Measuring lesions in a mask: per label value, per connected component, with a size filter.

Examples
--------
>>> import numpy as np
>>> from tscimg.core.geometry import Geometry
>>> g = Geometry((20, 20, 20), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
>>> labels = np.zeros((20, 20, 20), dtype=np.uint8)
>>> labels[5:15, 5:15, 5:15] = 1          # a 10 mm cube: 1 mL
>>> labels[1, 1, 1] = 1                   # a one-voxel speck
>>> result = measure_mask(Mask.from_array(labels, g), MeasureParameters(min_volume_ml=0.01))
>>> result.total.volume_ml, len(result.components), result.warnings
(1.0, 1, ('1 component(s) smaller than 0.01 mL left out',))
>>> # mesh vertices sit on edge midpoints, so the corners are cut: sqrt(10^2 + 9^2 + 9^2)
>>> round(result.total.max_3d_diameter_mm, 3)
16.186
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from scipy import ndimage

from tscimg.core.errors import InputError, MaskError
from tscimg.core.geometry import Geometry
from tscimg.core.mask import Mask, bounding_box, edge_warning, image_faces_reached
from tscimg.core.scan import Scan
from tscimg.measure.diameters import axial_longest_diameter, max_distance, orthogonal_diameters
from tscimg.measure.planar import PLANAR_BOUNDARY_SHIFT_FRACTION
from tscimg.measure.surface import surface_mesh
from tscimg.measure.uncertainty import boundary_shift_volume_mm3

#: How each figure is obtained; carried in every output so the method is never implicit.
METHODS = {
    "volume_ml": "voxel count x voxel volume",
    "mesh_volume_ml": "marching cubes (Lorensen, level 0.5, 1-voxel pad) in LPS mm; "
    "divergence theorem",
    "surface_area_mm2": "area of the marching-cubes mesh",
    "max_3d_diameter_mm": "largest distance between mesh vertices",
    "axial_longest_diameter_mm": "largest in-plane distance on any acquisition slice "
    "(marching-squares outline)",
    "orthogonal_diameters_mm": "longest diameter, longest perpendicular to it, extent "
    "perpendicular to both (mesh vertices)",
    "ellipsoid_volume_ml": "approximation: pi/6 x product of the orthogonal diameters",
    "volume_uncertainty_ml": "boundary shift model: fraction x boundary faces x voxel volume",
}


@dataclass(frozen=True)
class MeasureParameters:
    """How lesions are measured.

    Parameters
    ----------
    connectivity
        Neighbourhood for connected components: 1 (faces), 2 (edges) or 3 (corners, default).
    min_volume_ml
        Components smaller than this are left out (with a warning), mL.
    boundary_shift_fraction
        Boundary uncertainty in voxels for ``volume_uncertainty_ml`` (see
        :mod:`tscimg.measure.uncertainty`).
    planar_boundary_shift_fraction
        The same for a 2D frame's outline, in pixels (see :mod:`tscimg.measure.planar`).
    slice_axis
        Index axis (0 = i, 1 = j, 2 = k) of the acquisition slices for the axial diameter;
        ``None`` picks the axis with clearly the largest spacing, else k.
    """

    connectivity: int = 3
    min_volume_ml: float = 0.0
    boundary_shift_fraction: float = 0.1
    planar_boundary_shift_fraction: float = PLANAR_BOUNDARY_SHIFT_FRACTION
    slice_axis: int | None = None

    def __post_init__(self) -> None:
        def size(value: object) -> bool:
            real = isinstance(value, numbers.Real) and not isinstance(value, bool)
            return real and math.isfinite(float(value)) and float(value) >= 0  # type: ignore[arg-type]

        def whole(value: object, allowed: tuple[int, ...]) -> bool:
            integral = isinstance(value, numbers.Integral) and not isinstance(value, bool)
            return integral and int(value) in allowed  # type: ignore[call-overload]

        problems = []
        if not whole(self.connectivity, (1, 2, 3)):
            problems.append(f"connectivity {self.connectivity!r} (1, 2 or 3)")
        for name in ("min_volume_ml", "boundary_shift_fraction", "planar_boundary_shift_fraction"):
            if not size(getattr(self, name)):
                problems.append(f"{name} {getattr(self, name)!r} (a finite number >= 0)")
        axis = self.slice_axis
        if axis is not None and not whole(axis, (0, 1, 2)):
            problems.append(f"slice_axis {axis!r} (0 = i, 1 = j, 2 = k, or None)")
        if problems:
            raise InputError(
                "MeasureParameters: " + "; ".join(problems),
                hint="Give connectivity 1-3, sizes as numbers of at least 0, slice_axis 0-2",
            )


@dataclass(frozen=True)
class LesionMeasurement:
    """The figures of one region (a lesion, or the union of a mask's lesions)."""

    voxel_count: int
    volume_ml: float
    mesh_volume_ml: float
    surface_area_mm2: float
    max_3d_diameter_mm: float
    axial_longest_diameter_mm: float
    orthogonal_diameters_mm: tuple[float, float, float]
    ellipsoid_volume_ml: float
    volume_uncertainty_ml: float
    centroid_lps: tuple[float, float, float]
    label: int | None = None
    component: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        out = asdict(self)
        out["orthogonal_diameters_mm"] = list(self.orthogonal_diameters_mm)
        out["centroid_lps"] = list(self.centroid_lps)
        return out


@dataclass(frozen=True)
class MaskMeasurement:
    """A mask's measurement: the union of the selected lesions and each component.

    ``labels_measured``: the label values inside the measured components (after the size
    filter), ascending.
    """

    total: LesionMeasurement
    components: tuple[LesionMeasurement, ...]
    label: int | None
    parameters: MeasureParameters
    slice_axis: int
    warnings: tuple[str, ...] = field(default=())
    labels_measured: tuple[int, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """The ``tscimg measure`` JSON record: the union's figures at top level."""
        return {
            **self.total.to_dict(),
            "label": self.label,
            "components": [c.to_dict() for c in self.components],
            "slice_axis": "ijk"[self.slice_axis],
            "methods": METHODS,
            "parameters": asdict(self.parameters),
            "warnings": list(self.warnings),
        }


def acquisition_slices_of(scan: Scan) -> int | None:
    """The index axis across ``scan``'s acquisition slices when its file says so: k for a scan
    read from DICOM (its slices are stacked along k, whatever the spacings); ``None`` for
    other files, whose axis :func:`acquisition_slice_axis` infers from the spacings.

    An axial DICOM series of 1.2 x 0.6 mm pixels and 0.8 mm slices measured its "axial"
    diameter across j, the axis of the largest spacing: 29.7 mm along a 30 mm long axis for a
    lesion 10 mm across its slices (docs/measurement.md said k).
    """
    return 2 if scan.series_uid is not None and scan.geometry.dimension == 3 else None


def acquisition_slice_axis(geometry: Geometry, requested: int | None = None) -> int:
    """The index axis across acquisition slices: the one with clearly the largest spacing.

    Examples
    --------
    >>> g = Geometry((9, 9, 9), (5.0, 0.7, 0.7), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    >>> acquisition_slice_axis(g)  # KiTS-style: thick slices along i
    0
    """
    if requested is not None:
        return requested
    spacing = np.asarray(geometry.spacing_mm)
    top = int(np.argmax(spacing))
    others = np.delete(spacing, top)
    return top if spacing[top] > 1.2 * others.max() else 2


def measure_region(
    region: np.ndarray,
    geometry: Geometry,
    offset_ijk: tuple[int, int, int],
    parameters: MeasureParameters,
    slice_axis: int,
) -> LesionMeasurement:
    """Measure one binary region ``[k, j, i]`` cropped from ``geometry`` at ``offset_ijk``."""
    count = int(np.count_nonzero(region))
    voxel_mm3 = geometry.voxel_volume_mm3
    mesh = surface_mesh(region, geometry, offset_ijk)
    d1, d2, d3 = orthogonal_diameters(mesh.vertices_lps)
    # acquisition slices: move the slice axis to the front of the [k, j, i] crop
    axis_in_array = 2 - slice_axis
    slices = np.moveaxis(region, axis_in_array, 0)
    in_plane = [a for a in (0, 1, 2) if a != slice_axis]  # (i, j, k) axes spanning a slice
    plane_geometry = Geometry(
        size=(1, 1, 1),
        spacing_mm=(geometry.spacing_mm[in_plane[0]], geometry.spacing_mm[in_plane[1]], 1.0),
        origin_lps=(0.0, 0.0, 0.0),
        direction=(1, 0, 0, 0, 1, 0, 0, 0, 1),
    )
    # np.moveaxis keeps the remaining array axes in order: [.., j?, i?] -> rows, columns
    axial = axial_longest_diameter(slices, plane_geometry)
    kji = np.argwhere(region).mean(axis=0)
    centroid = geometry.index_to_lps(kji[::-1] + np.asarray(offset_ijk))
    return LesionMeasurement(
        voxel_count=count,
        volume_ml=count * voxel_mm3 / 1000.0,
        mesh_volume_ml=mesh.volume_mm3 / 1000.0,
        surface_area_mm2=mesh.area_mm2,
        max_3d_diameter_mm=max_distance(mesh.vertices_lps),
        axial_longest_diameter_mm=axial,
        orthogonal_diameters_mm=(d1, d2, d3),
        ellipsoid_volume_ml=math.pi / 6.0 * d1 * d2 * d3 / 1000.0,
        volume_uncertainty_ml=boundary_shift_volume_mm3(
            region, voxel_mm3, parameters.boundary_shift_fraction
        )
        / 1000.0,
        centroid_lps=(float(centroid[0]), float(centroid[1]), float(centroid[2])),
    )


def require_mask(mask: object, caller: str) -> None:
    """Raise :class:`MaskError` naming ``caller`` unless ``mask`` is a :class:`~tscimg.Mask`."""
    if not isinstance(mask, Mask):
        raise MaskError(
            f"{caller} needs a tscimg.Mask, got {type(mask).__name__}",
            hint="Load one with tscimg.load_mask(path, reference=scan), or build one with "
            "Mask.from_array(labels, scan.geometry)",
        )


def measure_mask(
    mask: Mask, parameters: MeasureParameters | None = None, label: int | None = None
) -> MaskMeasurement:
    """Measure a mask's lesions (all positive labels, or one ``label``).

    Work is bounded by the lesions: the mask is cropped to their bounding box first.

    Raises
    ------
    MaskError
        When the mask (or the label) is empty, the mask is not 3D, ``mask`` is not a
        :class:`~tscimg.Mask` or ``label`` not an integer.
    InputError
        When ``parameters`` is not a :class:`MeasureParameters`.
    """
    require_mask(mask, "measure_mask()")
    if parameters is not None and not isinstance(parameters, MeasureParameters):
        raise InputError(
            f"parameters must be a MeasureParameters, got {type(parameters).__name__}",
            hint="Pass MeasureParameters(min_volume_ml=...)",
        )
    if label is not None and (
        isinstance(label, bool) or not isinstance(label, numbers.Integral) or label < 1
    ):
        raise MaskError(
            f"label must be a positive integer or None, got {label!r}"
            + (" (0 is the background)" if label == 0 else ""),
            path=mask.source,
            hint="Pass label=1 (an int), or None for every label",
        )
    params = parameters or MeasureParameters()
    geometry = mask.geometry
    if geometry.dimension != 3:
        raise MaskError("measuring needs a 3D mask", path=mask.source)
    labels = mask.array_view()
    selected = labels > 0 if label is None else labels == label
    box = bounding_box(selected)
    if box is None:
        what = "the mask is empty" if label is None else f"label {label} is not in the mask"
        present = ", ".join(str(v) for v in mask.labels) or "none"
        raise MaskError(
            f"{what} (labels present: {present})",
            path=mask.source,
            hint="Check the mask file and the --label value",
        )
    crop = selected[box]
    offset = (box[2].start, box[1].start, box[0].start)
    structure = ndimage.generate_binary_structure(3, params.connectivity)
    components, n = ndimage.label(crop, structure)
    voxel_ml = geometry.voxel_volume_mm3 / 1000.0
    sizes = np.bincount(components.ravel(), minlength=n + 1)[1:] * voxel_ml
    keep = [c + 1 for c in range(n) if sizes[c] >= params.min_volume_ml]
    warnings: list[str] = []
    faces = image_faces_reached(selected)
    if faces:  # a lesion cut by the image's edge was measured without a word (4.5 mL as 3.1)
        warnings.append(edge_warning(faces))
    if len(keep) < n:
        warnings.append(
            f"{n - len(keep)} component(s) smaller than {params.min_volume_ml:g} mL left out"
        )
    if not keep:
        raise MaskError(
            f"every component is smaller than {params.min_volume_ml:g} mL",
            path=mask.source,
            hint="Lower the size filter",
        )
    slice_axis = acquisition_slice_axis(geometry, params.slice_axis)
    kept = np.isin(components, keep)
    labels_measured = tuple(int(v) for v in np.unique(labels[box][kept]))
    total = measure_region(kept, geometry, offset, params, slice_axis)
    total = _with_ids(total, label, None)
    if len(keep) == 1:  # the union is the one lesion: measured once
        only = replace(total, component=1)
        return MaskMeasurement(
            total, (only,), label, params, slice_axis, tuple(warnings), labels_measured
        )
    measured = []
    objects = ndimage.find_objects(components)
    for c in keep:
        sub = objects[c - 1]
        region = components[sub] == c
        sub_offset = (offset[0] + sub[2].start, offset[1] + sub[1].start, offset[2] + sub[0].start)
        measured.append(measure_region(region, geometry, sub_offset, params, slice_axis))
    measured.sort(key=lambda m: -m.voxel_count)  # stable: equal sizes keep the scan order
    # numbered as listed, largest first (numbered in scan order, a listing read 1, 3, 2)
    numbered = tuple(_with_ids(m, label, n) for n, m in enumerate(measured, start=1))
    return MaskMeasurement(
        total, numbered, label, params, slice_axis, tuple(warnings), labels_measured
    )


def _with_ids(m: LesionMeasurement, label: int | None, component: int | None) -> LesionMeasurement:
    return replace(m, label=label, component=component)
