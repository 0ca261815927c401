"""The checks behind the bad-input corpus, one by one: regular files only, whole files only,
plausible grids only, writable outputs only, and CSV cells that never run as formulas."""

from __future__ import annotations

import enum
import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from tscimg import Geometry, ImageReadError, InputError
from tscimg.io.atomic import atomic_file, require_writable
from tscimg.io.file_checks import gzip_payload_bytes, irregularity, require_regular_file
from tscimg.io.hashing import content_sha256
from tscimg.report.spreadsheet_cells import FORMULA_TRIGGERS, neutral_cell

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"],
)
def test_text_starting_a_formula_is_prefixed_with_a_quote(text: str) -> None:
    assert neutral_cell(text) == "'" + text


def test_numbers_and_plain_text_are_left_as_they_are() -> None:
    class Status(enum.StrEnum):
        RESPONSE = "response"

    for value in (-31.0, 0, 4.2, None, True, "TSC-001", "L1", Status.RESPONSE, "", "a=b"):
        assert neutral_cell(value) is value
    assert set(FORMULA_TRIGGERS) == {"=", "+", "-", "@", "\t", "\r"}


def test_gzip_payload_is_measured_whole_cut_concatenated_or_with_trailing_bytes(
    tmp_path: Path,
) -> None:
    data = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    packed = gzip.compress(data)
    cases = {
        "whole.gz": (packed, len(data)),
        "cut.gz": (packed[: len(packed) // 3], None),
        "two-members.gz": (packed + gzip.compress(data), 2 * len(data)),
        "trailing.gz": (packed + b"padding", len(data)),
    }
    for name, (content, size) in cases.items():
        (tmp_path / name).write_bytes(content)
        expected = 2 * len(data)
        got = gzip_payload_bytes(tmp_path / name, expected)
        if size is None:
            assert 0 < got < len(data) // 2, name  # a third of the stream holds less than half
        else:
            assert got == min(size, expected), name
    # After an attached text header, the stream starts at an offset.
    (tmp_path / "attached").write_bytes(b"NRRD0004\nsizes: 1\n\n" + packed)
    assert gzip_payload_bytes(tmp_path / "attached", len(data), start=20) == len(data)


def test_only_regular_files_pass_and_nothing_is_opened_to_find_out(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.dcm")  # opening it would block: irregularity must not
    (tmp_path / "zero.nii").symlink_to("/dev/zero")
    (tmp_path / "ok.nii").write_bytes(b"123")
    assert irregularity(tmp_path / "pipe.dcm") == "this is a named pipe (FIFO), not a regular file"
    assert "character device" in str(irregularity(tmp_path / "zero.nii"))
    assert irregularity(tmp_path) == "this is a folder, not a regular file"
    assert "no such file" in str(irregularity(tmp_path / "absent"))
    assert "not a usable path" in str(irregularity(Path("a\0b")))
    assert require_regular_file(tmp_path / "ok.nii") == 3
    with pytest.raises(ImageReadError, match=r"zero\.nii: this is a character device"):
        require_regular_file(tmp_path / "zero.nii")


def test_hashing_refuses_devices_and_skips_pipes_in_folders(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="character device"):
        content_sha256("/dev/zero")
    folder = tmp_path / "series"
    folder.mkdir()
    (folder / "a.dcm").write_bytes(b"abc")
    expected = hashlib.sha256(b"a.dcm\0abc\0").hexdigest()
    assert content_sha256(folder) == expected
    os.mkfifo(folder / "b.dcm")
    (folder / "c.dcm").symlink_to("/dev/zero")
    assert content_sha256(folder) == expected


@pytest.mark.parametrize(
    ("spacing", "origin", "direction", "words"),
    [
        ((1.0, 1.0, 0.0), (0.0, 0.0, 0.0), IDENTITY, "voxel size 0 mm along k"),
        ((1.0, -2.0, 1.0), (0.0, 0.0, 0.0), IDENTITY, "voxel size -2 mm along j"),
        ((1e30, 1.0, 1.0), (0.0, 0.0, 0.0), IDENTITY, "at most 50 mm"),
        ((float("nan"), 1.0, 1.0), (0.0, 0.0, 0.0), IDENTITY, "not a number"),
        ((1.0, 1.0, 1.0), (0.0, float("inf"), 0.0), IDENTITY, "not finite"),
        ((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 1, 0, 0, 0, 0, 1), "not orthonormal"),
        ((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, float("nan"), 0, 0, 0, 1), "finite"),
    ],
)
def test_implausible_grids_are_refused_naming_the_source(
    spacing: tuple[float, ...], origin: tuple[float, ...], direction: tuple[float, ...], words: str
) -> None:
    grid = Geometry((4, 4, 4), spacing, origin, direction)
    with pytest.raises(ImageReadError, match=r"scan\.nrrd: implausible geometry") as err:
        grid.require_plausible("scan.nrrd")
    assert words in str(err.value)


def test_a_real_oblique_grid_is_plausible() -> None:
    c, s = np.cos(0.3), np.sin(0.3)
    oblique = (c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0)
    assert (
        Geometry((512, 512, 300), (0.5, 0.5, 50.0), (-250, -180, 900), oblique).implausibilities()
        == []
    )


def test_outputs_that_cannot_be_written_are_refused_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    assert require_writable(tmp_path / "new" / "deeper" / "m.nii.gz").name == "m.nii.gz"
    assert require_writable(tmp_path, folder=True) == tmp_path
    for target, folder, words in (
        (tmp_path / "file.txt" / "m.nii.gz", False, "is a file, not a folder"),
        (tmp_path, False, "it is a folder"),
        (tmp_path / "file.txt", True, "it is a file"),
    ):
        with pytest.raises(InputError, match=words):
            require_writable(target, folder=folder)
    with pytest.raises(InputError, match="cannot write the output here"):
        with atomic_file(tmp_path / "file.txt" / "m.nii.gz"):
            pass


def test_an_empty_path_is_refused_not_read_as_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: load_scan("") was load_scan("."): a script's unset variable read the series
    # in the current folder.
    from tscimg import load_mask, load_scan

    monkeypatch.chdir(tmp_path)
    for empty in ("", "  "):
        with pytest.raises(ImageReadError, match="the path is empty"):
            load_scan(empty)
        with pytest.raises(ImageReadError, match="the path is empty"):
            load_mask(empty)


def test_a_path_ending_in_a_line_break_says_so(tmp_path: Path) -> None:
    from tscimg import load_scan

    (tmp_path / "scan.nii.gz").write_bytes(b"x")
    with pytest.raises(ImageReadError) as caught:
        load_scan(f"{tmp_path / 'scan.nii.gz'}\r")
    assert "begins or ends with a space or a line break (without them, it exists)" in str(
        caught.value
    )
