"""A certificate poll that found nothing new writes no state, for both certificate kinds."""

from __future__ import annotations

from pathlib import Path

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel.const import DOMAIN

from ..state_writes import states_written_by_a_poll
from .certs import Issued, make_leaf
from .conftest import Servers, days_from_now


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def test_unchanged_server_certificate_writes_no_state(
    hass: HomeAssistant, servers: Servers, trusted_leaf: Issued, ca_bundle: Path
) -> None:
    port = await servers.tls(trusted_leaf)
    entry = await _setup(
        hass,
        MockConfigEntry(
            domain=DOMAIN,
            title="proxy",
            unique_id=f"cert:127.0.0.1:{port}:service.test",
            data={
                "kind": "certificate",
                "host": "127.0.0.1",
                "port": port,
                "server_name": "service.test",
                "starttls": "none",
                "ca_file": str(ca_bundle),
            },
        ),
    )
    assert await states_written_by_a_poll(hass, entry) == set()


async def test_unchanged_certificate_files_write_no_state(
    hass: HomeAssistant, tmp_path: Path, test_ca: Issued
) -> None:
    live = tmp_path / "live"
    for name, days in (("alpha.test", 80), ("beta.test", 5)):
        (live / name).mkdir(parents=True)
        issued = make_leaf([name], issuer=test_ca, not_after=days_from_now(days))
        (live / name / "fullchain.pem").write_bytes(issued.pem_chain())
    entry = await _setup(
        hass,
        MockConfigEntry(
            domain=DOMAIN,
            title="letsencrypt",
            unique_id=f"file:{live}",
            data={"kind": "certificate_file", "path": str(live)},
        ),
    )
    assert await states_written_by_a_poll(hass, entry) == set()

    # A renewed certificate: only its own states are written.
    renewed = make_leaf(["beta.test"], issuer=test_ca, not_after=days_from_now(60))
    (live / "beta.test" / "fullchain.pem").write_bytes(renewed.pem_chain())
    written = await states_written_by_a_poll(hass, entry)
    assert written
    assert all(entity_id.split(".")[1].startswith("beta_test") for entity_id in written)
