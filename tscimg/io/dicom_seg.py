"""Reading DICOM Segmentation objects onto the grid of their source scan."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import SimpleITK as sitk

from tscimg.core.errors import MaskError
from tscimg.core.geometry import Geometry
from tscimg.core.mask import Mask
from tscimg.core.scan import Scan

if TYPE_CHECKING:
    import highdicom as hd

#: Largest distance from a voxel centre (in voxels) at which SEG pixels count as aligned.
ALIGNMENT_TOLERANCE_VOXELS = 0.1


def _frame_labels(seg: hd.seg.Segmentation, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame pixel arrays ``[frames, rows, cols]`` (0/1) and their segment numbers."""
    frames = np.asarray(seg.pixel_array)
    if frames.ndim == 2:
        frames = frames[None]
    if str(seg.SegmentationType).upper() == "FRACTIONAL":
        top = float(seg.get("MaximumFractionalValue", 255))
        frames = (frames >= 0.5 * top).astype(np.uint8)
    shared = (
        seg.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in seg else None
    )
    numbers = []
    for item in seg.PerFrameFunctionalGroupsSequence:
        ident = item.get("SegmentIdentificationSequence") or (
            shared.get("SegmentIdentificationSequence") if shared is not None else None
        )
        if not ident:
            raise MaskError("a frame names no segment (SegmentIdentificationSequence)", path=path)
        numbers.append(int(ident[0].ReferencedSegmentNumber))
    return frames, np.asarray(numbers)


def _frame_geometry(seg: hd.seg.Segmentation, index: int) -> tuple[np.ndarray, np.ndarray]:
    """(position, 3x2 matrix mapping (col, row) to LPS mm) of one frame."""
    item = seg.PerFrameFunctionalGroupsSequence[index]
    shared = seg.SharedFunctionalGroupsSequence[0]

    def group(name: str):  # type: ignore[no-untyped-def]
        return (item.get(name) or shared.get(name))[0]

    orient = np.asarray(group("PlaneOrientationSequence").ImageOrientationPatient, dtype=float)
    spacing = np.asarray(group("PixelMeasuresSequence").PixelSpacing, dtype=float)
    pos = np.asarray(group("PlanePositionSequence").ImagePositionPatient, dtype=float)
    if not (
        np.all(np.isfinite(orient)) and np.all(np.isfinite(spacing)) and np.all(np.isfinite(pos))
    ):
        raise ValueError(f"frame {index + 1}'s position, orientation or spacing is not finite")
    axes = np.column_stack([orient[:3] * spacing[1], orient[3:] * spacing[0]])
    return pos, axes


def read_dicom_seg(path: Path, reference: Scan, segment: int | None = None) -> Mask:
    """Place a DICOM SEG on ``reference``'s grid through its frame of reference and positions.

    Works for SEGs cropped to the segmented region and for SEGs without a
    ReferencedSeriesSequence. When the SEG's pixels fall on the reference's voxel centres
    (the usual case) the mapping is exact; otherwise the SEG is resampled with nearest
    neighbour interpolation and the mask carries a warning.

    ``segment``: read that segment alone, whole (label = its number). Every segment at once
    is a label map, one label per voxel: where segments overlap (two lesions sharing voxels,
    as tscimg's own SEGs allow) the later segment's number is kept there, with a warning.
    """
    import highdicom as hd  # imported when a SEG is read: CLI start-up

    try:
        seg = hd.seg.segread(str(path))
    except Exception as exc:  # highdicom / pydicom raise many types
        raise MaskError(f"not a readable DICOM Segmentation ({exc})", path=path) from exc
    seg_for = str(seg.get("FrameOfReferenceUID", "") or "") or None
    warnings: list[str] = []
    if reference.frame_of_reference_uid and seg_for and seg_for != reference.frame_of_reference_uid:
        raise MaskError(
            f"the SEG's FrameOfReferenceUID {seg_for} is not the scan's "
            f"({reference.frame_of_reference_uid})",
            path=path,
            hint=f"Use the scan the segmentation was drawn on (not {reference.source})",
        )
    if not reference.frame_of_reference_uid:
        warnings.append("the scan has no FrameOfReferenceUID: the SEG was placed by position only")
    names = {
        int(d.SegmentNumber): str(d.get("SegmentLabel", f"segment {d.SegmentNumber}"))
        for d in seg.SegmentSequence
    }
    if segment is not None:
        if segment not in names:
            raise MaskError(
                f"the SEG has no segment {segment} (its segments: "
                f"{', '.join(str(n) for n in sorted(names))})",
                path=path,
            )
        names = {segment: names[segment]}
    try:
        return _place(seg, reference, path, names, warnings)
    except (IndexError, KeyError, TypeError, ValueError, AttributeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MaskError(
            f"the SEG is damaged: its frames cannot be placed ({type(exc).__name__}: {reason})",
            path=path,
            hint="Export the segmentation again",
        ) from exc


def _place(
    seg: hd.seg.Segmentation,
    reference: Scan,
    path: Path,
    names: dict[int, str],
    warnings: list[str],
) -> Mask:
    """The SEG's frames on the reference's grid (exactly, or resampled when off its centres)."""
    frames, numbers = _frame_labels(seg, path)
    if len(numbers) != frames.shape[0]:
        raise MaskError(
            f"the SEG holds {frames.shape[0]} frames but {len(numbers)} per-frame functional "
            "groups (one per frame is required)",
            path=path,
            hint="Export the segmentation again",
        )
    geometry = reference.geometry
    to_index = np.linalg.inv(geometry.index_to_lps_matrix)
    out = np.zeros(
        geometry.size[::-1], dtype=np.uint16 if max(names, default=1) > 255 else np.uint8
    )
    aligned = True
    placed: list[tuple[np.ndarray, int]] = []
    for f in range(frames.shape[0]):
        if int(numbers[f]) not in names:
            continue  # another segment than the one asked for
        rc = np.argwhere(frames[f] > 0)
        if rc.size == 0:
            continue
        pos, axes = _frame_geometry(seg, f)
        lps = pos + rc[:, ::-1] @ axes.T
        ci = (to_index[:3, :3] @ lps.T).T + to_index[:3, 3]
        rounded = np.rint(ci).astype(int)
        if np.abs(ci - rounded).max() > ALIGNMENT_TOLERANCE_VOXELS:
            aligned = False
            break
        inside = np.all((rounded >= 0) & (rounded < np.asarray(geometry.size)), axis=1)
        if not inside.all():
            raise MaskError(
                f"{int((~inside).sum())} segmented pixels of frame {f + 1} fall outside the scan",
                path=path,
                hint=f"Check the SEG belongs to {reference.source}",
            )
        placed.append((rounded, int(numbers[f])))
    if aligned:
        shared = 0
        for rounded, label in placed:
            before = out[rounded[:, 2], rounded[:, 1], rounded[:, 0]]
            shared += int(np.count_nonzero((before > 0) & (before != label)))
            out[rounded[:, 2], rounded[:, 1], rounded[:, 0]] = label
        if shared:
            warnings.append(
                f"segments overlap in {shared} voxels: a label map holds one label per voxel, "
                "so the later segment's number is kept there; read one segment whole with "
                "segment=N (tscimg measure --label N)"
            )
        return Mask.from_array(
            out, geometry, source=str(path), label_names=names, warnings=tuple(warnings)
        )
    return _resampled(seg, reference, path, names, warnings)


def _resampled(
    seg: hd.seg.Segmentation,
    reference: Scan,
    path: Path,
    names: dict[int, str],
    warnings: list[str],
) -> Mask:
    try:
        volume = seg.get_volume(segment_numbers=sorted(names), combine_segments=True, relabel=False)
    except Exception as exc:
        raise MaskError(
            f"the SEG is not on the scan's voxel grid and its frames do not form a regular "
            f"volume ({exc})",
            path=path,
        ) from exc
    affine = np.asarray(volume.affine, dtype=float)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    direction = affine[:3, :3] / spacing
    # highdicom's volume is indexed [frame, row, col]; ITK wants (i=col, j=row, k=frame).
    arr = np.asarray(volume.array)
    perm = [2, 1, 0]
    img = Geometry(
        size=tuple(int(arr.shape[p]) for p in perm),
        spacing_mm=tuple(float(spacing[p]) for p in perm),
        origin_lps=tuple(float(v) for v in affine[:3, 3]),
        direction=tuple(float(v) for v in direction[:, perm].ravel()),
    ).apply_to(sitk.GetImageFromArray(np.ascontiguousarray(arr.astype(np.uint16))))
    out = sitk.Resample(
        img, reference.image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt16
    )
    segmented = np.argwhere(arr > 0)  # (frame, row, col)
    if len(segmented) and not sitk.GetArrayViewFromImage(out).any():
        # not "the mask is empty": the SEG has voxels; say whether any lies in this scan
        lps = segmented[:, ::-1] @ affine[:3, :3][:, perm].T + affine[:3, 3]
        to_index = np.linalg.inv(reference.geometry.index_to_lps_matrix)
        index = lps @ to_index[:3, :3].T + to_index[:3, 3]
        top = np.asarray(reference.geometry.size) - 0.5
        inside = int(np.all((index >= -0.5) & (index <= top), axis=1).sum())
        if inside:
            raise MaskError(
                f"the SEG's {len(segmented)} segmented voxels lie in this scan but fall between "
                "its voxel centres: the segmented region is smaller than the scan's voxels",
                path=path,
                hint="Check that the SEG was drawn on this scan at its resolution",
            )
        seg_for = str(seg.get("FrameOfReferenceUID", "") or "") or "not given"
        scan_for = reference.frame_of_reference_uid or "not given"
        raise MaskError(
            f"none of the SEG's {len(segmented)} segmented voxels falls inside this scan"
            + (
                f": it was drawn on another scan (the SEG's FrameOfReferenceUID is {seg_for}; "
                f"the scan's is {scan_for})"
                if seg_for != scan_for
                else ""
            ),
            path=path,
            hint=f"Use the scan the segmentation was drawn on (not {reference.source})",
        )
    warnings.append(
        "the SEG's pixels are not on the scan's voxel centres: resampled with "
        "nearest neighbour (volumes may differ from the SEG's own grid)"
    )
    return Mask.from_array(
        sitk.GetArrayFromImage(out),
        reference.geometry,
        source=str(path),
        label_names=names,
        warnings=tuple(warnings),
    )
