"""The report opened in real headless Chromium (Debian package, installed by `make setup`): the page renders
(a screenshot of the right size that is not blank) and the browser itself loads every image. Never skipped:
a missing browser is a failed setup, not a reason to pass."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from bots.demo import browser
from bots.demo.data import ReportData
from bots.demo.report import CHARTS, render_report


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = browser.find_chromium()
    if exe is None:
        pytest.fail("Chromium is not installed: run `make setup` (it installs the Debian `chromium` package)")
    return exe


def test_chromium_renders_the_whole_report_with_every_image(chromium: str, rendered: Path, tmp_path: Path) -> None:
    page = rendered
    check = browser.check_images_in_browser(page)
    assert check.total == len(CHARTS)
    assert check.broken == []
    assert check.page_height > 3000  # seven charts and the tables: a tall page, not an error page
    assert not list(page.parent.glob(".*imgcheck*")), "the probe page must be removed"

    shot = browser.screenshot(page, tmp_path / "shot.png", width=1280, height=check.page_height)
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (check.page_height, 1280)
    rgb = np.round(pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    colours = np.unique(rgb[:: 7], axis=0)
    assert len(colours) > 200, f"screenshot has only {len(colours)} colours: blank or unstyled page"
    # Chart pixels, not just text: the price chart's phase shading colour appears in the screenshot.
    assert (np.abs(rgb.astype(int) - [0xE8, 0xF0, 0xFE]).sum(axis=1) <= 3).sum() > 1000


def test_chromium_reports_a_broken_image(chromium: str, report_data: ReportData, tmp_path: Path) -> None:
    page = render_report(report_data, tmp_path)
    (tmp_path / "latency.png").unlink()
    (tmp_path / "gas.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    check = browser.check_images_in_browser(page)
    assert sorted(check.broken) == ["gas.png", "latency.png"]
    assert check.total == len(CHARTS)


def test_screenshot_errors_name_the_problem(chromium: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(browser.ChromiumError, match="no page to screenshot"):
        browser.screenshot(tmp_path / "absent.html", tmp_path / "x.png")
    monkeypatch.setenv(browser.ENV_OVERRIDE, str(tmp_path / "no-such-chrome"))
    with pytest.raises(browser.ChromiumError, match="RTRM_CHROMIUM=.*not an executable"):
        browser.find_chromium()
    fake = tmp_path / "fake-chrome"
    fake.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv(browser.ENV_OVERRIDE, str(fake))
    page = tmp_path / "p.html"
    page.write_text("<html><body>x</body></html>")
    with pytest.raises(browser.ChromiumError, match=r"exited with 3(.|\n)*cannot open display"):
        browser.screenshot(page, tmp_path / "x.png")
