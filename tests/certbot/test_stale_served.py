"""A TLS endpoint still serving the certificate that a certbot entry on this machine replaced."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from custom_components.homelab_sentinel.certificate.served import read_certbot_leaves
from custom_components.homelab_sentinel.const import DOMAIN

from ..certificate.certs import make_ca, make_leaf
from ..certificate.conftest import Servers, days_from_now
from ..certificate.helpers import setup_endpoint, setup_file
from ..states import attributes_of, state_of
from .common import add_entry, local_data
from .conftest import NOT_DUE, CertbotHome

STALE = "binary_sensor.proxy_renewed_certificate_not_served"


def _renewed_two_hours_ago(link: Path) -> None:
    target = link.resolve()
    two_hours_ago = target.stat().st_mtime - 7200
    os.utime(target, (two_hours_ago, two_hours_ago))


async def test_endpoint_serving_what_certbot_replaced(
    hass: HomeAssistant, certbot_home: CertbotHome, tmp_path: Path
) -> None:
    live = certbot_home.config_dir / "live" / NOT_DUE / "fullchain.pem"
    await asyncio.to_thread(_renewed_two_hours_ago, live)
    served = make_leaf([NOT_DUE], issuer=make_ca(), not_before=days_from_now(-30))
    servers = Servers(tmp_path)
    try:
        port = await servers.tls(served)
        endpoint = await setup_endpoint(hass, port, None, server_name=NOT_DUE)
        assert state_of(hass, STALE) == "off"

        certbot = await add_entry(hass, local_data(certbot_home))
        await hass.async_block_till_done(wait_background_tasks=True)
        assert state_of(hass, STALE) == "on"
        assert attributes_of(hass, STALE)["on_disk"] == f"{certbot.title} ({live})"

        # A certificate_file entry on the same file too: still one repair for the endpoint.
        files = await setup_file(hass, live, title="live files")
        stale_issues = [
            issue_id
            for (domain, issue_id) in ir.async_get(hass).issues
            if domain == DOMAIN and "stale_served_certificate" in issue_id
        ]
        assert stale_issues == [f"{endpoint.entry_id}_stale_served_certificate_"]

        # Without the certbot entry and the file entry, nothing says it was renewed.
        assert await hass.config_entries.async_unload(certbot.entry_id)
        await hass.async_block_till_done()
        assert state_of(hass, STALE) == "on"
        assert await hass.config_entries.async_unload(files.entry_id)
        await hass.async_block_till_done()
        assert state_of(hass, STALE) == "off"
    finally:
        await servers.close()


def test_unreadable_certbot_files_are_left_out(tmp_path: Path) -> None:
    assert read_certbot_leaves("certbot", [str(tmp_path / "missing.pem")]) == ()
