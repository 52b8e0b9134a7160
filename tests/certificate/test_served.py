"""What users live with, against a real nginx: incomplete chains, renewals, stale certificates."""

from __future__ import annotations

from datetime import timedelta
import json
import os
from pathlib import Path

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.json import json_dumps
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.homelab_sentinel.const import DOMAIN
from custom_components.homelab_sentinel.diagnostics import async_get_config_entry_diagnostics

from ..states import attributes_of, state_of
from .certs import Issued, make_ca, make_leaf
from .conftest import IssuerServer, days_from_now
from .helpers import FiredEvents, setup_endpoint, setup_file
from .nginx_lifecycle import Nginx

TRUST = "sensor.proxy_trust"
PROBLEM = "binary_sensor.proxy_certificate_problem"
STALE = "binary_sensor.proxy_renewed_certificate_not_served"
RENEWAL = "event.proxy_renewal"


@pytest.fixture
def intermediate(test_ca: Issued) -> Issued:
    """An intermediate of the test CA, as Let's Encrypt's R-series stand to ISRG."""
    return make_ca("Sentinel Test Intermediate", issuer=test_ca)


async def test_leaf_without_intermediate_is_an_incomplete_chain_until_fixed(
    hass: HomeAssistant,
    nginx: Nginx,
    issuer_server: IssuerServer,
    intermediate: Issued,
    ca_bundle: Path,
    issue_registry: ir.IssueRegistry,
) -> None:
    issuer_server.serve(intermediate.certificate)
    leaf = make_leaf(["service.test"], issuer=intermediate, ca_issuers=issuer_server.url)
    site = nginx.site(leaf, full_chain=False)
    full = nginx.site(leaf)
    await nginx.start()

    entry = await setup_endpoint(hass, site.port, ca_bundle)
    await setup_endpoint(hass, full.port, ca_bundle, title="full")
    assert state_of(hass, TRUST) == "incomplete_chain"
    missing = intermediate.certificate.subject.rfc4514_string()
    assert attributes_of(hass, TRUST)["missing_issuer"] == missing
    assert state_of(hass, PROBLEM) == "on"
    issue = issue_registry.async_get_issue(DOMAIN, f"{entry.entry_id}_incomplete_chain_")
    assert issue is not None
    assert issue.translation_key == "incomplete_chain"
    assert issue.translation_placeholders == {"name": "proxy", "missing_issuer": missing}
    # The endpoint sending the full chain is trusted and never made anyone fetch.
    assert state_of(hass, "sensor.full_trust") == "trusted"
    assert "missing_issuer" not in attributes_of(hass, "sensor.full_trust")

    for _ in range(2):
        await entry.runtime_data.async_refresh()
    assert state_of(hass, TRUST) == "incomplete_chain"
    assert issuer_server.requests == 1

    # A new leaf, still sent alone: fetched once more.
    renewed = make_leaf(["service.test"], issuer=intermediate, ca_issuers=issuer_server.url)
    site.write(renewed, full_chain=False)
    await nginx.reload()
    await entry.runtime_data.async_refresh()
    await entry.runtime_data.async_refresh()
    assert state_of(hass, TRUST) == "incomplete_chain"
    assert issuer_server.requests == 2

    # The fix the repair names: serve fullchain.pem, reload.
    site.write(renewed)
    await nginx.reload()
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert state_of(hass, TRUST) == "trusted"
    assert state_of(hass, PROBLEM) == "off"
    assert "missing_issuer" not in attributes_of(hass, TRUST)
    assert issue_registry.async_get_issue(DOMAIN, f"{entry.entry_id}_incomplete_chain_") is None
    assert issuer_server.requests == 2


async def test_private_root_leaf_alone_stays_untrusted_issuer(
    hass: HomeAssistant,
    nginx: Nginx,
    issuer_server: IssuerServer,
    ca_bundle: Path,
    issue_registry: ir.IssueRegistry,
) -> None:
    private_intermediate = make_ca("Private Intermediate", issuer=make_ca("Private Root"))
    issuer_server.serve(private_intermediate.certificate)
    leaf = make_leaf(["service.test"], issuer=private_intermediate, ca_issuers=issuer_server.url)
    site = nginx.site(leaf, full_chain=False)
    await nginx.start()
    entry = await setup_endpoint(hass, site.port, ca_bundle)
    assert state_of(hass, TRUST) == "untrusted_issuer"
    assert issuer_server.requests == 1
    assert issue_registry.async_get_issue(DOMAIN, f"{entry.entry_id}_incomplete_chain_") is None


async def test_down_caissuers_server_leaves_untrusted_issuer(
    hass: HomeAssistant,
    nginx: Nginx,
    issuer_server: IssuerServer,
    intermediate: Issued,
    ca_bundle: Path,
) -> None:
    leaf = make_leaf(["service.test"], issuer=intermediate, ca_issuers=issuer_server.url)
    await issuer_server.stop()
    site = nginx.site(leaf, full_chain=False)
    await nginx.start()
    entry = await setup_endpoint(hass, site.port, ca_bundle)
    assert state_of(hass, TRUST) == "untrusted_issuer"
    # Back up: the leaf was tried once while loaded; a reload of the entry tries again.
    await issuer_server.start()
    issuer_server.serve(intermediate.certificate)
    await entry.runtime_data.async_refresh()
    assert state_of(hass, TRUST) == "untrusted_issuer"
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert state_of(hass, TRUST) == "incomplete_chain"
    assert issuer_server.requests == 1


async def test_renewed_event(
    hass: HomeAssistant, nginx: Nginx, intermediate: Issued, ca_bundle: Path
) -> None:
    first = make_leaf(["service.test"], issuer=intermediate, not_after=days_from_now(20))
    site = nginx.site(first)
    await nginx.start()
    events = FiredEvents(hass, RENEWAL)
    entry = await setup_endpoint(hass, site.port, ca_bundle)
    assert state_of(hass, RENEWAL) == "unknown"

    second = make_leaf(["service.test"], issuer=intermediate, not_after=days_from_now(80))
    site.write(second)
    await nginx.reload()
    await entry.runtime_data.async_refresh()
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert events.fired == [
        {
            "event_type": "renewed",
            "event_types": ["renewed"],
            "previous_expires": first.certificate.not_valid_after_utc.isoformat(),
            "expires": second.certificate.not_valid_after_utc.isoformat(),
            "issuer": "Sentinel Test Intermediate",
            "friendly_name": "proxy Renewal",
        }
    ]

    # Reloading the entry is not a renewal.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert len(events.fired) == 1

    # Swapped while the entry was not loaded: one event at its next poll.
    assert await hass.config_entries.async_unload(entry.entry_id)
    third = make_leaf(["service.test"], issuer=intermediate, not_after=days_from_now(90))
    site.write(third)
    await nginx.reload()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert len(events.fired) == 2
    assert events.fired[1]["previous_expires"] == second.certificate.not_valid_after_utc.isoformat()
    assert events.fired[1]["expires"] == third.certificate.not_valid_after_utc.isoformat()

    # A rollback to a leaf that expires sooner is no renewal.
    site.write(second)
    await nginx.reload()
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert len(events.fired) == 2
    events.unsubscribe()


def _certbot_layout(root: Path, name: str, issued: Issued, number: int) -> Path:
    """certbot's live/NAME/fullchain.pem link to archive/NAME/fullchainN.pem."""
    archive = root / "archive" / name
    archive.mkdir(parents=True, exist_ok=True)
    (archive / f"fullchain{number}.pem").write_bytes(issued.pem_chain())
    live = root / "live" / name
    live.mkdir(parents=True, exist_ok=True)
    link = live / "fullchain.pem"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(Path("../../archive") / name / f"fullchain{number}.pem")
    return link


@pytest.mark.parametrize("file_entry_first", [False, True])
async def test_renewed_on_disk_but_still_served(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    tmp_path: Path,
    nginx: Nginx,
    intermediate: Issued,
    ca_bundle: Path,
    issue_registry: ir.IssueRegistry,
    file_entry_first: bool,
) -> None:
    served = make_leaf(
        ["service.test"],
        issuer=intermediate,
        not_before=days_from_now(-70),
        not_after=days_from_now(20),
    )
    site = nginx.site(served)
    await nginx.start()
    renewed = make_leaf(
        ["service.test", "www.service.test"],
        issuer=intermediate,
        not_before=days_from_now(-0.01),
        not_after=days_from_now(90),
    )
    letsencrypt = tmp_path / "letsencrypt"
    _certbot_layout(letsencrypt, "service.test", served, 1)
    link = _certbot_layout(letsencrypt, "service.test", renewed, 2)
    # certbot renewed it half an hour ago (utime follows the link to the archive file).
    half_an_hour_ago = link.stat().st_mtime - 1800
    os.utime(link, (half_an_hour_ago, half_an_hour_ago))

    if file_entry_first:
        files = await setup_file(hass, link, title="certbot files")
        endpoint = await setup_endpoint(hass, site.port, ca_bundle)
    else:
        endpoint = await setup_endpoint(hass, site.port, ca_bundle)
        files = await setup_file(hass, link, title="certbot files")
    issue_id = f"{endpoint.entry_id}_stale_served_certificate_"
    # Renewed half an hour ago: the deploy hook gets its hour to reload the server.
    assert state_of(hass, STALE) == "off"
    freezer.tick(timedelta(minutes=29))
    await endpoint.runtime_data.async_refresh()
    assert state_of(hass, STALE) == "off"

    # The hour is up: judged again then, without waiting for the endpoint's next poll.
    freezer.tick(timedelta(minutes=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert state_of(hass, STALE) == "on"
    on_disk = f"certbot files ({link})"
    attributes = {
        "served_expires": served.certificate.not_valid_after_utc.isoformat(),
        "on_disk_expires": renewed.certificate.not_valid_after_utc.isoformat(),
        "on_disk": on_disk,
    }
    assert {key: attributes_of(hass, STALE)[key] for key in attributes} == attributes
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "stale_served_certificate"
    assert issue.translation_placeholders == {"name": "proxy", **attributes}
    # The file entry itself raises nothing about it.
    assert not [
        i for (d, i) in issue_registry.issues if d == DOMAIN and i.startswith(files.entry_id)
    ]

    # Diagnostics hold the same, and stay JSON.
    diagnostics = await async_get_config_entry_diagnostics(hass, endpoint)
    status = json.loads(json_dumps(diagnostics))["data"]["subjects"][""]
    assert status["stale_served"]["on_disk"] == on_disk
    assert status["threshold"] == "P14D"

    # The fix: reload the server.
    site.write(renewed)
    await nginx.reload()
    await endpoint.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert state_of(hass, STALE) == "off"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_stale_certificate_clears_when_the_file_entry_goes(
    hass: HomeAssistant,
    tmp_path: Path,
    nginx: Nginx,
    intermediate: Issued,
    ca_bundle: Path,
    issue_registry: ir.IssueRegistry,
) -> None:
    served = make_leaf(["service.test"], issuer=intermediate, not_before=days_from_now(-70))
    site = nginx.site(served)
    await nginx.start()
    renewed = make_leaf(["service.test"], issuer=intermediate, not_before=days_from_now(-0.5))
    live = tmp_path / "live"
    certificate = live / "service.test" / "fullchain.pem"
    certificate.parent.mkdir(parents=True)
    certificate.write_bytes(renewed.pem_chain())
    (live / "other.crt").write_bytes(make_leaf(["other.test"], issuer=intermediate).pem_chain())
    two_hours_ago = certificate.stat().st_mtime - 7200
    os.utime(certificate, (two_hours_ago, two_hours_ago))

    endpoint = await setup_endpoint(hass, site.port, ca_bundle)
    files = await setup_file(hass, live, title="live")
    assert state_of(hass, STALE) == "on"
    assert attributes_of(hass, STALE)["on_disk"] == f"live ({certificate})"
    issue_id = f"{endpoint.entry_id}_stale_served_certificate_"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None

    # The file entry polls again with nothing new: the endpoint is not re-judged for nothing.
    await files.runtime_data.async_refresh()
    assert state_of(hass, STALE) == "on"

    assert await hass.config_entries.async_remove(files.entry_id)
    await hass.async_block_till_done()
    assert state_of(hass, STALE) == "off"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_files_appearing_while_the_endpoint_is_down(
    hass: HomeAssistant,
    tmp_path: Path,
    nginx: Nginx,
    intermediate: Issued,
    ca_bundle: Path,
) -> None:
    served = make_leaf(["service.test"], issuer=intermediate, not_before=days_from_now(-70))
    site = nginx.site(served)
    await nginx.start()
    endpoint = await setup_endpoint(hass, site.port, ca_bundle)
    await nginx.stop()
    await endpoint.runtime_data.async_refresh()
    assert state_of(hass, STALE) == "unavailable"

    # A file entry that cannot read its path publishes nothing, and withdraws nothing.
    missing = await _setup_file_entry(hass, tmp_path / "missing.pem")
    assert missing.state is ConfigEntryState.SETUP_RETRY
    renewed = tmp_path / "renewed.pem"
    renewed.write_bytes(
        make_leaf(["service.test"], issuer=intermediate, not_before=days_from_now(-0.5)).pem_chain()
    )
    old = renewed.stat().st_mtime - 7200
    os.utime(renewed, (old, old))
    await setup_file(hass, renewed)
    # Judged again at the endpoint's next successful poll, not from a failed one.
    assert state_of(hass, STALE) == "unavailable"
    await nginx.start()
    await endpoint.runtime_data.async_refresh()
    assert state_of(hass, STALE) == "on"


async def _setup_file_entry(hass: HomeAssistant, path: Path) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="missing",
        unique_id=f"file:{path}",
        data={"kind": "certificate_file", "path": str(path)},
        minor_version=2,
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry
