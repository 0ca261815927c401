"""Label masks that live on the grid of their scan.

Examples
--------
>>> import numpy as np, SimpleITK as sitk
>>> img = sitk.Image(6, 5, 4, sitk.sitkInt16)
>>> img.SetSpacing((1.0, 1.0, 2.0))
>>> labels = np.zeros((4, 5, 6), dtype=np.uint8)  # [k, j, i]
>>> labels[1:3, 1:3, 1:3] = 1
>>> mask = Mask.from_array(labels, Geometry.of(img))
>>> mask.voxel_count(1), mask.labels
(8, (1,))
>>> mask.geometry.spacing_mm
(1.0, 1.0, 2.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Integral
from typing import TYPE_CHECKING

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from tscimg.core.errors import MaskError
from tscimg.core.geometry import Geometry

if TYPE_CHECKING:
    from tscimg.core.scan import Scan

_INTEGER_PIXEL_IDS = {
    sitk.sitkUInt8,
    sitk.sitkUInt16,
    sitk.sitkUInt32,
    sitk.sitkInt8,
    sitk.sitkInt16,
    sitk.sitkInt32,
    sitk.sitkUInt64,
    sitk.sitkInt64,
}
#: Largest label value a mask stores (its pixels are at most 32-bit unsigned).
_MAX_LABEL = 2**32 - 1


def bounding_box(selected: np.ndarray) -> tuple[slice, ...] | None:
    """Bounding box (array slices) of the True voxels, from axis projections; ``None`` if none.

    Cheaper than ``np.argwhere`` on a large, mostly empty array.

    Examples
    --------
    >>> a = np.zeros((4, 5, 6), dtype=bool); a[1:3, 2, 3:5] = True
    >>> bounding_box(a)
    (slice(1, 3, None), slice(2, 3, None), slice(3, 5, None))
    """
    box = []
    for axis in range(selected.ndim):
        others = tuple(a for a in range(selected.ndim) if a != axis)
        hits = np.flatnonzero(selected.any(axis=others))
        if hits.size == 0:
            return None
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(box)


def most_interior_voxel(
    selected: np.ndarray, spacing_kji: tuple[float, ...] | np.ndarray
) -> tuple[int, int, int] | None:
    """The most interior voxel of a ``[k, j, i]`` region: the maximum of its distance transform
    (mm; the array's edge counts as the region's border), as an ``(i, j, k)`` index; ``None``
    for an empty region.

    Of several equally interior voxels, the one nearest the region's centroid (reproducible and
    central: a slab's middle, not its first corner). The accuracy protocol's first click
    (shared/DESIGN.md section 6) and the click a carried mask contributes are this voxel.

    Examples
    --------
    >>> k, j, i = np.ogrid[:7, :7, :9]
    >>> most_interior_voxel((k - 3) ** 2 + (j - 3) ** 2 + (i - 5) ** 2 <= 9, (1.0, 1.0, 1.0))
    (5, 3, 3)
    >>> slab = np.zeros((3, 5, 9), dtype=bool); slab[1, 1:4, :] = True
    >>> most_interior_voxel(slab, (1.0, 1.0, 1.0))  # every (i, 2, 1) ties: the middle one
    (4, 2, 1)
    """
    box = bounding_box(selected)
    if box is None:
        return None
    crop = np.pad(selected[box], 1)
    spacing = np.asarray(spacing_kji, dtype=float)
    depth = ndimage.distance_transform_edt(crop, sampling=spacing)
    ties = np.argwhere(depth >= depth.max() - 1e-6)
    centroid = np.argwhere(crop).mean(axis=0)
    k, j, i = ties[int(np.argmin((((ties - centroid) * spacing) ** 2).sum(axis=1)))]
    return (int(i) - 1 + box[2].start, int(j) - 1 + box[1].start, int(k) - 1 + box[0].start)


class _ImageBackedArray(np.ndarray):
    """A numpy view on SimpleITK pixel memory that holds a reference to its image."""

    _image: sitk.Image | None = None

    def __array_finalize__(self, obj: object) -> None:
        self._image = getattr(obj, "_image", None)


@dataclass(frozen=True, eq=False)
class Mask:
    """A label map: 0 is background, each positive integer one label.

    Parameters
    ----------
    image
        Integer-valued SimpleITK image whose geometry is that of the scan it belongs to.
    source
        Where the mask came from (a path, or the method that made it).
    label_names
        Optional names of the labels (e.g. DICOM SEG segment labels).
    warnings
        Problems met while loading or placing the mask that did not stop it.
    """

    image: sitk.Image
    source: str | None = None
    label_names: Mapping[int, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.image, sitk.Image):
            raise MaskError(
                f"a Mask holds a SimpleITK.Image, got {type(self.image).__name__}",
                path=self.source,
                hint="Build a mask from a [k, j, i] label array with Mask.from_array(labels, "
                "scan.geometry)",
            )
        if self.image.GetPixelID() not in _INTEGER_PIXEL_IDS:
            raise MaskError(
                f"a mask needs integer labels, got {self.image.GetPixelIDTypeAsString()} pixels",
                path=self.source,
                hint="Convert it to an integer label map first",
            )

    @classmethod
    def from_array(
        cls,
        labels: np.ndarray,
        geometry: Geometry | Scan | sitk.Image,
        source: str | None = None,
        label_names: Mapping[int, str] | None = None,
        warnings: tuple[str, ...] = (),
    ) -> Mask:
        """Build a mask from an integer array indexed ``[k, j, i]`` on ``geometry``.

        ``geometry`` may also be the scan itself (anything :meth:`Geometry.of_grid` takes).
        The labels are copied: changing ``labels`` later does not change the mask.

        Raises
        ------
        MaskError
            When the labels are not integers (or booleans), negative, larger than
            2**32 - 1, or not of the grid's shape ``(nk, nj, ni)``.
        """
        geometry = Geometry.of_grid(geometry, "geometry")
        arr = np.asarray(labels)
        if arr.dtype == bool:
            arr = arr.astype(np.uint8)
        if not np.issubdtype(arr.dtype, np.integer):
            raise MaskError(f"a mask needs integer labels, got {arr.dtype}", path=source)
        if arr.shape[::-1] != tuple(geometry.size):
            raise MaskError(
                f"label array of shape {arr.shape} [k, j, i] does not fit grid of size "
                f"{list(geometry.size)} (i, j, k)",
                path=source,
            )
        if arr.size and arr.min() < 0:
            raise MaskError("labels must be 0 (background) or positive", path=source)
        top = int(arr.max()) if arr.size else 0
        if top > _MAX_LABEL:
            raise MaskError(
                f"label {top} is larger than the largest label a mask holds ({_MAX_LABEL})",
                path=source,
                hint="Renumber the labels 1, 2, 3, ... (np.unique(labels, return_inverse=True))",
            )
        dtype = np.uint8 if top < 256 else np.uint16 if top < 65536 else np.uint32
        image = geometry.apply_to(sitk.GetImageFromArray(arr.astype(dtype, copy=False)), copy=False)
        return cls(image, source=source, label_names=dict(label_names or {}), warnings=warnings)

    def __repr__(self) -> str:
        """Grid, voxel count and source in one line, never the pixels (nor a sort of them:
        :attr:`labels` lists the labels present)."""
        g = self.geometry
        return (
            f"Mask(size={list(g.size)}, spacing_mm={[round(v, 6) for v in g.spacing_mm]}, "
            f"voxel_count={self.voxel_count()}, label_names={dict(self.label_names)!r}, "
            f"source={self.source!r}, warnings={len(self.warnings)})"
        )

    @property
    def geometry(self) -> Geometry:
        """The grid the mask lives on."""
        return Geometry.of(self.image)

    def to_array(self) -> np.ndarray:
        """A copy of the labels indexed ``[k, j, i]``."""
        return sitk.GetArrayFromImage(self.image)

    def array_view(self) -> np.ndarray:
        """A read-only view of the labels ``[k, j, i]`` without copying.

        The view keeps the mask's image alive, so it stays valid even when the mask itself is
        a temporary (``load_mask(path).array_view()``).
        """
        view = sitk.GetArrayViewFromImage(self.image).view(_ImageBackedArray)
        view._image = self.image  # the pixel memory belongs to this image
        view.flags.writeable = False
        return view

    @property
    def labels(self) -> tuple[int, ...]:
        """The positive label values present, ascending."""
        values = np.unique(self.array_view())
        return tuple(int(v) for v in values if v > 0)

    def voxel_count(self, label: int | None = None) -> int:
        """Number of voxels with ``label`` (any positive label when ``None``)."""
        if label is not None and (isinstance(label, bool) or not isinstance(label, Integral)):
            raise MaskError(
                f"label must be an integer or None, got {label!r}",
                path=self.source,
                hint="Pass label=1 (an int), or None for every positive label",
            )
        arr = self.array_view()
        return int(np.count_nonzero(arr > 0 if label is None else arr == label))

    def volume_ml(self, label: int | None = None) -> float:
        """Voxel count x voxel volume of ``label`` (any positive label when ``None``), mL."""
        return self.voxel_count(label) * self.geometry.voxel_volume_mm3 / 1000.0

    def require_on(self, geometry: Geometry | Scan | sitk.Image, scan_name: str) -> None:
        """Raise :class:`GeometryMismatchError` unless the mask lies on ``geometry``
        (or on the grid of a scan given instead: :meth:`Geometry.of_grid`)."""
        geometry = Geometry.of_grid(geometry, "geometry")
        geometry.require_same(self.geometry, scan_name, self.source or "mask")

    def placed_on(self, geometry: Geometry | Scan | sitk.Image, scan_name: str) -> Mask:
        """This mask on ``geometry``'s grid: itself when it lies there; its labels reordered
        when it holds the same voxels with its axes in another order or reversed
        (:meth:`Geometry.axis_order_of`: no voxel is resampled, each keeps its label and its
        place in the patient), with a warning that says so.

        Raises
        ------
        GeometryMismatchError
            When the mask's voxels are not the grid's (another spacing, shift, obliquity or
            extent): resampling would change its volume, so that is left to the reader.

        Examples
        --------
        >>> g = Geometry((3, 2, 2), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
        >>> flipped = Geometry((3, 2, 2), (1.0, 1.0, 1.0), (2.0, 0.0, 0.0),
        ...                    (-1, 0, 0, 0, 1, 0, 0, 0, 1))
        >>> labels = np.zeros((2, 2, 3), np.uint8); labels[0, 0, 0] = 1  # i = 0: x = 2 mm
        >>> placed = Mask.from_array(labels, flipped).placed_on(g, "scan.nii.gz")
        >>> np.argwhere(placed.array_view() > 0).tolist()  # [k, j, i]: x = 2 mm on g
        [[0, 0, 2]]
        >>> print(placed.warnings[0].split(":")[0])
        the mask's axes are ordered differently from scan.nii.gz's
        """
        geometry = Geometry.of_grid(geometry, "geometry")
        if not geometry.differences(self.geometry):
            return self
        order = geometry.axis_order_of(self.geometry)
        d = geometry.dimension
        if order is None or order == (tuple(range(d)), (False,) * d):
            # another grid, or the same order with direction cosines apart beyond tolerance
            self.require_on(geometry, scan_name)  # raises, naming how the grids differ
            return self
        axes, flipped = order
        # numpy axis t of the result is index axis d-1-t; it comes from the mask's index
        # axis axes[d-1-t], numpy axis d-1-axes[d-1-t]
        labels = np.transpose(self.array_view(), [d - 1 - axes[d - 1 - t] for t in range(d)])
        reversed_axes = tuple(d - 1 - n for n in range(d) if flipped[n])
        if reversed_axes:
            labels = np.flip(labels, axis=reversed_axes)
        names = "ijk"[:d]
        described = ", ".join(
            f"{names[n]} is its {'-' if flipped[n] else ''}{names[axes[n]]}" for n in range(d)
        )
        note = (
            f"the mask's axes are ordered differently from {scan_name}'s: the same voxels, "
            f"reordered onto the scan's grid ({described}; no voxel resampled)"
        )
        return Mask.from_array(
            labels,
            geometry,
            source=self.source,
            label_names=self.label_names,
            warnings=(*self.warnings, note),
        )


def image_faces_reached(labels: np.ndarray) -> tuple[str, ...]:
    """The faces of the image (``"i = 0"``) that a ``[k, j, i]`` label array reaches, on axes
    at least 3 voxels long (a 2D frame's one slice is no edge).

    Examples
    --------
    >>> labels = np.zeros((5, 8, 8), np.uint8); labels[1:4, 2:6, 5:8] = 1
    >>> image_faces_reached(labels)
    ('i = 7',)
    """
    faces: list[str] = []
    for axis, name in enumerate("ijk"):
        size = labels.shape[2 - axis]
        if size < 3:
            continue
        for value in (0, size - 1):
            if np.take(labels, value, axis=2 - axis).any():
                faces.append(f"{name} = {value}")
    return tuple(faces)


def edge_warning(faces: tuple[str, ...]) -> str:
    """The warning for a mask that reaches the image's edge at ``faces``."""
    return (
        f"the mask reaches the edge of the image at {', '.join(faces)}: the scan may not "
        "cover the whole lesion, and its volume counts only the part inside; check the "
        "scan's coverage"
    )
