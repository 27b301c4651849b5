from __future__ import annotations

from pathlib import Path

import pytest

from bots.demo.data import ReportData
from bots.demo.report import render_report
from tests.demo.synthetic import synthetic_report_data


@pytest.fixture
def report_data() -> ReportData:
    return synthetic_report_data(seed=7)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One rendered report shared by the read-only tests of a module (rendering costs ~1 s)."""
    return render_report(synthetic_report_data(seed=7), tmp_path_factory.mktemp("report"))
