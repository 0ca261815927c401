"""report.html in a real browser, report.pdf as pictures: checks of the demo report.

The tests here run in tests/test_track.py, on its ``demo`` fixture (``tscimg demo``'s output
folder: the sample manifest with the sample treatment file), so the demo is computed once.

Headless Chromium loads every image and logs no console error (Debian's chromium and
chromium-driver, which `.ci/run` installs, and selenium; skips cleanly without them). The PDF,
rendered once for the module, is turned into page images by poppler's pdftoppm (Debian's
poppler-utils; skips without it): the page count, and every page's patient in its header. The
screenshot of the demo report is kept in docs/report-screenshot.png
(`python tests/report_browser_checks.py OUTDIR` refreshes it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from builders import PROJECT_ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
PDFTOPPM = shutil.which("pdftoppm")
PATIENTS = ("TSC-001", "TSC-002", "TSC-003", "TSC-004")


def _browser():  # type: ignore[no-untyped-def]
    webdriver = pytest.importorskip("selenium.webdriver")
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("chromium and chromedriver are not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,2000",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=DRIVER)
    return webdriver.Chrome(options=options, service=service)


def test_every_image_loads_and_the_console_is_clean(demo_report: Path) -> None:
    driver = _browser()
    try:
        driver.get(demo_report.as_uri())
        images = driver.execute_script(
            "return Array.from(document.images).map("
            "i => [i.alt, i.complete && i.naturalWidth > 0, i.src.slice(0, 22), i.clientWidth]);"
        )
        # cohort waterfall + one plot per patient + one view per visit (13)
        assert len(images) == 1 + 4 + 13
        assert all(ok for _, ok, _, _ in images), [alt for alt, ok, _, _ in images if not ok]
        assert all(src.startswith("data:image/png;base64") for _, _, src, _ in images)
        # every plane of a lesion view is shown at least 320 pixels wide: three planes of a
        # 3D scan side by side (10 visits), the one image plane of a 2D echo frame (3)
        views = [(alt, width) for alt, _, _, width in images if " on 20" in alt]
        three = [w for alt, w in views if "axial, coronal and sagittal" in alt]
        one = [w for alt, w in views if "2D frame" in alt]
        assert len(three) == 10 and min(three) >= 3 * 320
        assert len(one) == 3 and min(one) >= 320
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert errors == []
        text = driver.find_element("tag name", "body").text
        assert "not a medical device" in text
        for status in ("response", "non_response_12m", "too_early"):
            assert status in text
        assert "Window: CT window -250 to 250 HU" in text  # every view states its window
        # each 3D follow-up (7) shows the reference outline carried by the registration
        assert text.count("outline carried by the registration. ") == 7
        assert text.count("2D echo frame 3: the image plane itself, not an axial slice") == 3
        assert "17.6 (above 15)" in text and "3.4 (below 5)" in text  # trough levels flagged
        assert "regress spontaneously" in text
        # no request leaves the page: everything is inline
        resources = driver.execute_script(
            "return performance.getEntriesByType('resource').map(r => r.name);"
        )
        assert [r for r in resources if not r.startswith("data:")] == []
    finally:
        driver.quit()


def test_report_pdf_has_the_same_content(demo_report: Path) -> None:
    pdf = demo_report.with_suffix(".pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    pypdf = pytest.importorskip("pypdf")
    import io

    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "not a medical device" in text
    for patient in PATIENTS:
        assert f"Patient {patient}" in text
    images = sum(len(page.images) for page in reader.pages)
    assert images >= 1 + 4 + 13


def test_report_pdf_pages_as_pictures(demo_report: Path, tmp_path: Path) -> None:
    """The 4-patient demo prints on at most 6 A4 pages; every page renders, and every page's
    header names its patient (the cohort page: all patients) with its page number."""
    if PDFTOPPM is None:
        pytest.skip("pdftoppm (Debian's poppler-utils) is not installed")
    pypdf = pytest.importorskip("pypdf")
    pdf = demo_report.with_suffix(".pdf")
    subprocess.run([PDFTOPPM, "-r", "30", "-png", str(pdf), str(tmp_path / "page")], check=True,
                   timeout=120)  # fmt: skip
    pages = sorted(tmp_path.glob("page-*.png"))
    assert 1 < len(pages) <= 6
    from tscimg.report.figures import png_size

    for png in pages:
        width, height = png_size(png.read_bytes())
        assert height / width == pytest.approx(297 / 210, rel=0.01)  # A4 portrait
        assert png.stat().st_size > 4000  # not a blank page
    reader = pypdf.PdfReader(str(pdf))
    assert len(reader.pages) == len(pages)
    seen: set[str] = set()
    for number, page in enumerate(reader.pages, start=1):
        text = page.extract_text()
        # the running header: the patient (left) and "page N of M" (right), on one line
        (header,) = [line for line in text.splitlines() if f"page {number} of {len(pages)}" in line]
        named = set(re.findall(r"TSC-00\d", text))
        if number == 1:
            assert "All patients" in header
        else:  # a continuation page says whose it is, in its running header
            assert re.search(r"TSC-00\d|all patients", header), header
        assert named or "All patients" in header
        seen |= named
    assert seen == set(PATIENTS)


def _screenshot(report: Path, target: Path) -> None:
    driver = _browser()
    try:
        driver.set_window_size(1100, 1500)
        driver.get(report.as_uri())
        driver.save_screenshot(str(target))
    finally:
        driver.quit()


if __name__ == "__main__":  # refresh docs/report-screenshot.png from a demo output folder
    _screenshot(Path(sys.argv[1]) / "report.html", PROJECT_ROOT / "docs" / "report-screenshot.png")
