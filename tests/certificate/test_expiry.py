"""Short-lived certificates are judged against a fifth of their lifetime, not a fixed 14 days."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest

from custom_components.homelab_sentinel.certificate.expiry import (
    iso_duration,
    warning_threshold,
)
from custom_components.homelab_sentinel.const import DOMAIN

from ..states import attributes_of, state_of
from .certs import Issued, make_leaf
from .conftest import Servers, days_from_now
from .helpers import setup_endpoint

HOUR = 1 / 24


@pytest.mark.parametrize(
    ("lifetime_days", "remaining_days", "warning_days", "problem", "threshold"),
    [
        # step-ca's 24-hour certificates: a fifth is 4 h 48 min.
        (1, 5 * HOUR, None, False, "PT4H48M"),
        (1, 4.5 * HOUR, None, True, "PT4H48M"),
        (1, 5 * HOUR, 1, False, "PT4H48M"),
        (1, 4.5 * HOUR, 1, True, "PT4H48M"),
        # 6-day ACME certificates: a fifth is 1 day 4 h 48 min.
        (6, 1.3, None, False, "P1DT4H48M"),
        (6, 1.1, None, True, "P1DT4H48M"),
        # 45 days: longer than three times 14 days, so 14 days; with 30 days set, a fifth.
        (45, 14.5, None, False, "P14D"),
        (45, 13.5, None, True, "P14D"),
        (45, 9.5, 30, False, "P9D"),
        (45, 8.5, 30, True, "P9D"),
        # 90 days: the warning, whatever is set.
        (90, 14.5, None, False, "P14D"),
        (90, 13.5, None, True, "P14D"),
        (90, 30.5, 30, False, "P30D"),
        (90, 29.5, 30, True, "P30D"),
    ],
)
async def test_threshold_follows_the_lifetime(
    hass: HomeAssistant,
    servers: Servers,
    test_ca: Issued,
    ca_bundle: Path,
    issue_registry: ir.IssueRegistry,
    lifetime_days: float,
    remaining_days: float,
    warning_days: int | None,
    problem: bool,
    threshold: str,
) -> None:
    leaf = make_leaf(
        ["service.test"],
        issuer=test_ca,
        not_before=days_from_now(remaining_days - lifetime_days),
        not_after=days_from_now(remaining_days),
    )
    port = await servers.tls(leaf)
    options = {"warning_days": warning_days} if warning_days else {}
    entry = await setup_endpoint(hass, port, ca_bundle, options=options)
    assert state_of(hass, "sensor.proxy_trust") == "trusted"
    problem_sensor = "binary_sensor.proxy_certificate_problem"
    assert state_of(hass, problem_sensor) == ("on" if problem else "off")
    assert attributes_of(hass, problem_sensor)["threshold"] == threshold
    issue = issue_registry.async_get_issue(DOMAIN, f"{entry.entry_id}_certificate_")
    assert (issue is not None) is problem
    if issue is not None:
        assert issue.translation_key == "certificate_expiring"


def test_threshold_boundary_is_three_warning_periods() -> None:
    start = days_from_now(0)
    assert warning_threshold(start, start + timedelta(days=42), 14) == timedelta(days=14)
    assert warning_threshold(start, start + timedelta(days=41), 14) == timedelta(days=41) / 5


def test_iso_durations() -> None:
    assert iso_duration(timedelta(days=14)) == "P14D"
    assert iso_duration(timedelta(hours=4, minutes=48)) == "PT4H48M"
    assert iso_duration(timedelta(days=1, hours=4, minutes=48)) == "P1DT4H48M"
    assert iso_duration(timedelta(seconds=90)) == "PT1M30S"
    assert iso_duration(timedelta(0)) == "PT0S"
    assert iso_duration(timedelta(seconds=-5)) == "PT0S"
