"""The blocking-call detector is live in the tests, so the suite would catch the loop blocked."""

from __future__ import annotations

from pathlib import Path

from homeassistant.core import HomeAssistant
import pytest

from custom_components.homelab_sentinel.certificate.client import CertificateFileReader


async def test_reading_a_file_in_the_loop_is_reported(
    hass: HomeAssistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cert.pem"
    path.write_text("no certificate\n")
    # Deliberately what the integration never does: file I/O on the event loop.
    CertificateFileReader(path).read()
    reports = [r.getMessage() for r in caplog.records if "Detected blocking call" in r.getMessage()]
    assert any("custom integration 'homelab_sentinel'" in report for report in reports), reports
    # The autouse guard would fail this test for what it provoked on purpose.
    caplog.clear()
