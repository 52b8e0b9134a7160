"""Give certificate_file entries back the certbot live/ link their user chose.

Entries made before 1.2 stored the resolved path: for ``live/NAME/fullchain.pem`` that is
``archive/NAME/fullchainN.pem``, which certbot never rewrites, so renewals went unseen.
"""

from __future__ import annotations

import os
from pathlib import Path

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_PATH
from homeassistant.core import HomeAssistant

from ..const import LOGGER


def live_link_for(stored: str) -> str | None:
    """The live/ link that still resolves to a certbot archive/ file, or None (blocking)."""
    path = Path(stored)
    if len(path.parts) < 3 or path.parts[-3] != "archive":
        return None
    name = path.parent.name
    stem = path.stem.rstrip("0123456789")
    if not stem or path.suffix != ".pem" or stem == path.stem:
        return None
    link = path.parent.parent.parent / "live" / name / f"{stem}.pem"
    if not link.is_symlink():
        return None
    return str(link) if os.path.realpath(link) == os.path.realpath(path) else None


async def async_migrate_certificate_file(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Point an entry that stored an archive/ file back at its live/ link."""
    stored = str(entry.data[CONF_PATH])
    link = await hass.async_add_executor_job(live_link_for, stored)
    if link is None:
        return
    LOGGER.info("Certificate entry %s now reads %s, which follows renewals", entry.title, link)
    if entry.title == stored:
        hass.config_entries.async_update_entry(
            entry, data={**entry.data, CONF_PATH: link}, title=link
        )
    else:
        hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_PATH: link})
