"""report.html in a real browser: headless Chromium loads every image, logs no console error.

Needs Debian's chromium and chromium-driver (`.ci/run` installs them) and selenium; skips
cleanly without them. The screenshot of the demo report is kept in docs/report-screenshot.png
(`python tests/test_report_browser.py OUTDIR` refreshes it).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from builders import PROJECT_ROOT, SAMPLE_SCANS

import tscimg

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


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


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    tscimg.track(SAMPLE_SCANS / "manifest.csv", out)
    return out / "report.html"


def test_every_image_loads_and_the_console_is_clean(demo_report: Path) -> None:
    driver = _browser()
    try:
        driver.get(demo_report.as_uri())
        images = driver.execute_script(
            "return Array.from(document.images).map("
            "i => [i.alt, i.complete && i.naturalWidth > 0, i.src.slice(0, 22)]);"
        )
        # cohort waterfall + one plot per patient + one view per visit (13)
        assert len(images) == 1 + 4 + 13
        assert all(ok for _, ok, _ in images), [alt for alt, ok, _ in images if not ok]
        assert all(src.startswith("data:image/png;base64") for _, _, src in images)
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert errors == []
        text = driver.find_element("tag name", "body").text
        assert "not a medical device" in text
        for status in ("response", "non_response_12m", "too_early"):
            assert status in text
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
    for patient in ("TSC-001", "TSC-002", "TSC-003", "TSC-004"):
        assert f"Patient {patient}" in text
    images = sum(len(page.images) for page in reader.pages)
    assert images >= 1 + 4 + 13


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
