"""The longitudinal manifest (CSV, one row per patient x visit x lesion; DESIGN.md section 4).

:func:`read_manifest` validates the whole file before anything runs and raises one
:class:`ManifestError` listing every problem with its row and column, so a batch never
starts on a manifest that would fail half-way.

Examples
--------
>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "v1.nii.gz").write_bytes(b"x"); _ = (folder / "v2.nii.gz").write_bytes(b"x")
>>> _ = (folder / "m.csv").write_text(
...     "patient_id,date,image,lesion_id,lesion_type,point_lps,treatment_start\\n"
...     "P1,2024-01-10,v1.nii.gz,L1,aml,6;-4;12,2024-01-15\\n"
...     "P1,2024-07-12,v2.nii.gz,L1,aml,,\\n")
>>> manifest = read_manifest(folder / "m.csv")
>>> plan = manifest.patients[0]
>>> plan.patient_id, plan.treatment_start, [v.date.isoformat() for v in plan.lesions["L1"].visits]
('P1', datetime.date(2024, 1, 15), ['2024-01-10', '2024-07-12'])
>>> plan.lesions["L1"].visits[1].carried
True
"""

from __future__ import annotations

import datetime
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tscimg.core.errors import InputError
from tscimg.core.geometry import ras_to_lps
from tscimg.core.vocabularies import LesionType
from tscimg.io.csv_tables import TableProblems, cell_date, table_rows
from tscimg.io.file_checks import irregularity

Point = tuple[float, float, float]
Box = tuple[float, float, float, float, float, float]

REQUIRED_COLUMNS = ("patient_id", "date", "image")
OPTIONAL_COLUMNS = (
    "lesion_id",
    "lesion_type",
    "point_index",
    "point_lps",
    "point_ras",
    "negative_index",
    "negative_lps",
    "negative_ras",
    "box_index",
    "box_lps",
    "box_ras",
    "mask",
    "treatment_start",
    "treatment_stop",
    "frame",
)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS


class ManifestError(InputError):
    """The manifest cannot be used; the message lists each problem with row and column."""


@dataclass(frozen=True)
class LesionPrompts:
    """A visit's own prompts for one lesion: points and box, index or LPS (RAS converted)."""

    positive_index: tuple[Point, ...] = ()
    positive_lps: tuple[Point, ...] = ()
    negative_index: tuple[Point, ...] = ()
    negative_lps: tuple[Point, ...] = ()
    box_index: Box | None = None
    box_lps: Box | None = None

    @property
    def any(self) -> bool:
        """Whether there is a positive point or a box."""
        return bool(self.positive_index or self.positive_lps or self.box_index or self.box_lps)


@dataclass(frozen=True)
class LesionVisit:
    """One lesion at one visit: the image, and its own prompts or mask (or neither: carried)."""

    date: datetime.date
    image: Path
    row: int
    prompts: LesionPrompts = field(default_factory=LesionPrompts)
    mask: Path | None = None
    frame: int | None = None
    view: int = 1

    @property
    def carried(self) -> bool:
        """Neither prompt nor mask: segmented by carrying the lesion from the previous visit."""
        return self.mask is None and not self.prompts.any


@dataclass(frozen=True)
class LesionPlan:
    """A lesion of a patient and its visits in date order.

    A date may appear twice: two 2D views of the lesion at one visit (``view`` 1 and 2), whose
    areas give the biplane volume.
    """

    lesion_id: str
    lesion_type: LesionType
    visits: tuple[LesionVisit, ...]


@dataclass(frozen=True)
class PatientPlan:
    """Everything the manifest says about one patient."""

    patient_id: str
    treatment_start: datetime.date | None
    treatment_stop: datetime.date | None
    lesions: dict[str, LesionPlan]
    rows: tuple[int, ...]

    @property
    def images(self) -> tuple[Path, ...]:
        """Every image (and mask) file the patient's visits use, in first-use order."""
        seen: dict[Path, None] = {}
        for lesion in self.lesions.values():
            for v in lesion.visits:
                seen.setdefault(v.image)
                if v.mask is not None:
                    seen.setdefault(v.mask)
        return tuple(seen)


@dataclass(frozen=True)
class Manifest:
    """A validated manifest."""

    path: Path
    patients: tuple[PatientPlan, ...]
    text: str


def _numbers(
    text: str, count: int, row: int, column: str, problems: TableProblems
) -> list[tuple[float, ...]]:
    out: list[tuple[float, ...]] = []
    if not text:
        return out
    for part in text.split("|"):
        pieces = [p.strip() for p in part.replace(",", ";").split(";")]
        try:
            values = tuple(float(p) for p in pieces)
        except ValueError:
            values = ()
        if len(values) != count:
            problems.add(row, column, f"{part!r} is not {count} numbers separated by ';'")
            continue
        if not all(math.isfinite(v) for v in values):
            problems.add(
                row, column, f"{part!r}: coordinates must be finite numbers (not NaN or infinity)"
            )
            continue
        out.append(values)
    return out


def _points(text: str, row: int, column: str, problems: TableProblems) -> tuple[Point, ...]:
    return tuple((v[0], v[1], v[2]) for v in _numbers(text, 3, row, column, problems))


def _box(text: str, row: int, column: str, problems: TableProblems) -> Box | None:
    boxes = _numbers(text, 6, row, column, problems)
    if len(boxes) > 1:
        problems.add(row, column, "give one box per row")
    if not boxes:
        return None
    b = boxes[0]
    return (b[0], b[1], b[2], b[3], b[4], b[5])


def _file(text: str, base: Path, row: int, column: str, problems: TableProblems) -> Path | None:
    if not text:
        return None
    p = Path(text)
    p = p if p.is_absolute() else base / p
    try:
        exists = p.exists()
    except (OSError, ValueError) as exc:  # a NUL byte, a name too long, a loop of links
        problems.add(row, column, f"{text!r} is not a usable path ({exc})")
        return None
    if not exists:
        problems.add(row, column, f"{text!r} does not exist (looked for {p})")
        return None
    if not os.access(p, os.R_OK):
        problems.add(row, column, f"{text!r} is not readable")
        return None
    if p.is_dir():
        if not any(p.iterdir()):
            problems.add(row, column, f"{text!r} is an empty folder")
            return None
        return p
    irregular = irregularity(p)
    if irregular is not None:  # a pipe or a device would block or never end when read
        problems.add(row, column, f"{text!r} ({p}): {irregular}")
        return None
    return p


@dataclass(frozen=True)
class _Row:
    row: int
    patient_id: str
    date: datetime.date
    image: Path
    lesion_id: str
    lesion_type: LesionType | None
    prompts: LesionPrompts
    mask: Path | None
    treatment_start: datetime.date | None
    treatment_stop: datetime.date | None
    frame: int | None = None


def _frame(text: str, row: int, problems: TableProblems) -> int | None:
    if not text:
        return None
    # ASCII only: str.isdigit() takes '²', which int() refuses, and '٣', which it reads as 3;
    # at most 9 digits: int() refuses a string of over 4300 digits.
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        problems.add(row, "frame", f"{text!r} is not a frame number (0, 1, 2, ...)")
        return None
    return int(text)


def _parse_row(
    values: dict[str, str], row: int, base: Path, problems: TableProblems
) -> _Row | None:
    before = len(problems.items)
    get = values.get
    pid = (get("patient_id") or "").strip()
    if not pid:
        problems.add(row, "patient_id", "empty")
    date = cell_date(
        (get("date") or "").strip(), row, "date", problems, "give the date of the visit"
    )
    if not (get("date") or "").strip():
        problems.add(row, "date", "empty")
    image_text = (get("image") or "").strip()
    if not image_text:
        problems.add(row, "image", "empty")
    image = _file(image_text, base, row, "image", problems)
    kind: LesionType | None = None
    kind_text = (get("lesion_type") or "").strip().lower()
    if kind_text:
        try:
            kind = LesionType(kind_text)
        except ValueError:
            problems.add(
                row,
                "lesion_type",
                f"{kind_text!r} is not one of {', '.join(t.value for t in LesionType)}",
            )
    ras_pos = _points((get("point_ras") or "").strip(), row, "point_ras", problems)
    ras_neg = _points((get("negative_ras") or "").strip(), row, "negative_ras", problems)
    box_ras = _box((get("box_ras") or "").strip(), row, "box_ras", problems)
    box_lps = _box((get("box_lps") or "").strip(), row, "box_lps", problems)
    box_index = _box((get("box_index") or "").strip(), row, "box_index", problems)
    if box_ras is not None:
        if box_lps is not None:
            problems.add(row, "box_ras", "give the box once (box_lps or box_ras)")
        box_lps = (*ras_to_lps(box_ras[:3]), *ras_to_lps(box_ras[3:]))
    if box_index is not None and box_lps is not None:
        problems.add(row, "box_index", "give the box in one space only")
    prompts = LesionPrompts(
        positive_index=_points((get("point_index") or "").strip(), row, "point_index", problems),
        positive_lps=_points((get("point_lps") or "").strip(), row, "point_lps", problems)
        + tuple(ras_to_lps(p) for p in ras_pos),
        negative_index=_points(
            (get("negative_index") or "").strip(), row, "negative_index", problems
        ),
        negative_lps=_points((get("negative_lps") or "").strip(), row, "negative_lps", problems)
        + tuple(ras_to_lps(p) for p in ras_neg),
        box_index=box_index,
        box_lps=box_lps,
    )
    mask = _file((get("mask") or "").strip(), base, row, "mask", problems)
    lesion_id = (get("lesion_id") or "").strip()
    if not lesion_id and (prompts.any or prompts.negative_index or prompts.negative_lps or mask):
        problems.add(row, "lesion_id", "prompts and masks belong to a lesion: give its lesion_id")
    if mask is not None and prompts.any:
        problems.add(row, "mask", "give either a mask or prompts for a lesion visit, not both")
    open_ended = "leave the cell empty"
    start = cell_date(
        (get("treatment_start") or "").strip(), row, "treatment_start", problems, open_ended
    )
    stop = cell_date(
        (get("treatment_stop") or "").strip(), row, "treatment_stop", problems, open_ended
    )
    frame = _frame((get("frame") or "").strip(), row, problems)
    if len(problems.items) > before or date is None or image is None:
        return None
    return _Row(row, pid, date, image, lesion_id, kind, prompts, mask, start, stop, frame)


def _one_value(
    rows: Sequence[_Row], attribute: str, problems: TableProblems, what: str
) -> datetime.date | None:
    values = {getattr(r, attribute) for r in rows if getattr(r, attribute) is not None}
    if len(values) > 1:
        listed = ", ".join(sorted(v.isoformat() for v in values))
        problems.add(
            min(r.row for r in rows if getattr(r, attribute) is not None),
            attribute,
            f"patient {rows[0].patient_id} has several {what} dates ({listed}); give one",
        )
        return None
    return next(iter(values), None)


def _treatment_dates(
    rows: list[_Row], problems: TableProblems
) -> tuple[datetime.date | None, datetime.date | None]:
    """The patient's treatment start and stop (one value each over its rows)."""
    start = _one_value(rows, "treatment_start", problems, "treatment_start")
    stop = _one_value(rows, "treatment_stop", problems, "treatment_stop")
    if start is not None and stop is not None and stop < start:
        problems.add(
            rows[0].row,
            "treatment_stop",
            f"patient {rows[0].patient_id}: treatment stops before it starts",
        )
    return start, stop


def _lesion_type(
    pid: str, lesion_id: str, lrows: list[_Row], problems: TableProblems
) -> LesionType | None:
    """The one type the rows of a lesion give it (a problem when none or several)."""
    kinds = {r.lesion_type for r in lrows if r.lesion_type is not None}
    if len(kinds) == 1:
        return kinds.pop()
    if kinds:
        names = ", ".join(sorted(k.value for k in kinds))
        problems.add(
            lrows[0].row,
            "lesion_type",
            f"lesion {lesion_id} of patient {pid} has several types ({names})",
        )
    else:
        problems.add(
            lrows[0].row, "lesion_type", f"lesion {lesion_id} of patient {pid} has no type"
        )
    return None


def _check_views(
    pid: str, lesion_id: str, lrows: list[_Row], problems: TableProblems, rejected: bool = False
) -> None:
    """A lesion has one row per visit, or two prompted 2D views (biplane); its first visit
    has something to segment or carry from (not judged when one of the lesion's rows was
    ``rejected``: that row, already a problem, may be its first visit)."""
    seen: dict[datetime.date, list[_Row]] = {}
    for r in lrows:
        earlier = seen.setdefault(r.date, [])
        same_view = [e for e in earlier if (e.image, e.frame) == (r.image, r.frame)]
        if same_view:
            problems.add(
                r.row,
                "lesion_id",
                f"duplicate: lesion {lesion_id} of patient {pid} on {r.date} is already "
                f"on row {same_view[0].row}",
            )
        elif len(earlier) >= 2:
            problems.add(
                r.row,
                "lesion_id",
                f"lesion {lesion_id} of patient {pid} on {r.date} has more than two views "
                f"(rows {', '.join(str(e.row) for e in earlier)}, {r.row}); a visit has one "
                "image, or two 2D views of the lesion (biplane)",
            )
        elif earlier and not (r.prompts.any and earlier[0].prompts.any):
            problems.add(
                r.row,
                "point_lps",
                f"lesion {lesion_id} of patient {pid} has two views on {r.date}: biplane "
                "views need a prompt each (a 2D view is never carried)",
            )
        earlier.append(r)
    first = lrows[0]
    if not rejected and not first.prompts.any and first.mask is None:
        problems.add(
            first.row,
            "point_lps",
            f"lesion {lesion_id} of patient {pid} has no prompt or mask at its first visit "
            f"({first.date}): nothing to segment or carry from",
        )


def _explicit_visits(lrows: list[_Row]) -> list[LesionVisit]:
    """A lesion's own rows as visits, numbering the views of each date."""
    views: dict[datetime.date, int] = {}
    out = []
    for r in lrows:
        views[r.date] = views.get(r.date, 0) + 1
        out.append(LesionVisit(r.date, r.image, r.row, r.prompts, r.mask, r.frame, views[r.date]))
    return out


def _add_blanket_visits(
    pid: str,
    blanket: list[_Row],
    explicit: dict[str, list[_Row]],
    lesion_types: dict[str, LesionType],
    visits: dict[str, list[LesionVisit]],
    problems: TableProblems,
    rejected: frozenset[str] = frozenset(),
) -> None:
    """Rows with an empty lesion_id: a carried visit for every earlier lesion (of the row's
    type, when it names one) that has no row of its own that day (a row with nothing to carry
    is a problem unless one of the patient's rows was ``rejected``: it may be the lesion)."""
    blanket_seen: dict[tuple[datetime.date, LesionType | None], int] = {}
    for r in blanket:
        key = (r.date, r.lesion_type)
        if key in blanket_seen:
            problems.add(
                r.row,
                "lesion_id",
                f"duplicate: visit {r.date} of {pid} is already on row {blanket_seen[key]}",
            )
            continue
        blanket_seen[key] = r.row
        added = 0
        for lid, lrows in explicit.items():
            if lrows[0].date >= r.date or any(v.date == r.date for v in visits[lid]):
                continue
            if r.lesion_type is not None and lesion_types.get(lid) is not r.lesion_type:
                continue
            visits[lid].append(LesionVisit(r.date, r.image, r.row, frame=r.frame))
            added += 1
        if not added and not rejected:
            problems.add(
                r.row,
                "lesion_id",
                f"empty lesion_id, but patient {pid} has no lesion before "
                f"{r.date} to carry to this visit",
            )


def _check_case_spellings(rows: list[_Row], problems: TableProblems) -> None:
    """Two patient_ids (or two lesion_ids of one patient) that differ only in letter case are
    a problem: their output files (masks, DICOM SEG/SR, resume state) are named after them and
    would overwrite each other on a case-insensitive file system (macOS, Windows, SMB shares).
    """
    first: dict[tuple[str, ...], _Row] = {}
    for r in rows:
        keys: list[tuple[str, ...]] = [("patient", r.patient_id.casefold())]
        if r.lesion_id:
            keys.append(("lesion", r.patient_id, r.lesion_id.casefold()))
        for key in keys:
            earlier = first.setdefault(key, r)
            column = "patient_id" if key[0] == "patient" else "lesion_id"
            mine, theirs = (
                (r.patient_id, earlier.patient_id)
                if column == "patient_id"
                else (r.lesion_id, earlier.lesion_id)
            )
            if mine != theirs:
                problems.add(
                    r.row,
                    column,
                    f"{mine!r} differs from {theirs!r} (row {earlier.row}) only in letter case: "
                    "their output files would overwrite each other on a case-insensitive file "
                    "system; spell it one way",
                )


def _plan_patient(
    rows: list[_Row], problems: TableProblems, rejected: frozenset[str] = frozenset()
) -> PatientPlan | None:
    """One patient's lesions and visits from its rows; ``None`` when a row has a problem.
    ``rejected``: the lesion ids of the patient's rows that could not be read (``""`` for a
    row whose lesion_id is empty or unknown), whose problems are already noted."""
    before = len(problems.items)
    pid = rows[0].patient_id
    start, stop = _treatment_dates(rows, problems)
    explicit: dict[str, list[_Row]] = {}
    blanket: list[_Row] = []
    for r in sorted(rows, key=lambda r: (r.date, r.row)):
        (explicit.setdefault(r.lesion_id, []) if r.lesion_id else blanket).append(r)
    lesion_types: dict[str, LesionType] = {}
    for lesion_id, lrows in explicit.items():
        kind = _lesion_type(pid, lesion_id, lrows, problems)
        if kind is not None:
            lesion_types[lesion_id] = kind
        _check_views(pid, lesion_id, lrows, problems, bool({lesion_id, ""} & rejected))
    visits = {lid: _explicit_visits(lrows) for lid, lrows in explicit.items()}
    _add_blanket_visits(pid, blanket, explicit, lesion_types, visits, problems, rejected)
    if len(problems.items) > before:
        return None
    lesions = {
        lid: LesionPlan(lid, lesion_types[lid], tuple(sorted(v, key=lambda v: (v.date, v.view))))
        for lid, v in visits.items()
    }
    return PatientPlan(pid, start, stop, lesions, tuple(r.row for r in rows))


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read and validate a manifest CSV.

    Paths in it are relative to the manifest's folder. Every problem (unknown columns,
    bad dates or numbers, missing files, duplicate rows, a lesion with nothing to segment
    at its first visit, conflicting treatment dates) is reported at once.

    Raises
    ------
    ManifestError
        Listing each problem with its row (the CSV line number) and column.
    """
    p = Path(path)
    irregular = irregularity(p)
    if irregular is not None:
        raise ManifestError(
            f"not a manifest file: {irregular}", path=p, hint="Pass the manifest CSV file"
        )
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read the manifest ({exc})", path=p) from None
    problems = TableProblems(
        p,
        "the manifest",
        ManifestError,
        "Fix these rows (columns and formats: docs/longitudinal.md) and run again",
    )
    parsed: list[_Row] = []
    rejected: dict[str, set[str]] = {}  # patient -> lesion ids of its rows that were rejected
    for number, values in table_rows(text, COLUMNS, REQUIRED_COLUMNS, problems):
        row = _parse_row(values, number, p.parent, problems)
        if row is not None:
            parsed.append(row)
        else:
            rejected.setdefault((values.get("patient_id") or "").strip(), set()).add(
                (values.get("lesion_id") or "").strip()
            )
    if not parsed and not problems.items:
        problems.add(None, None, "no rows after the header")
    by_patient: dict[str, list[_Row]] = {}
    for r in parsed:
        by_patient.setdefault(r.patient_id, []).append(r)
    _check_case_spellings(parsed, problems)
    plans = [
        _plan_patient(rows, problems, frozenset(rejected.get(pid, set())))
        for pid, rows in by_patient.items()
    ]
    problems.raise_if_any()
    return Manifest(p, tuple(pl for pl in plans if pl is not None), text)
