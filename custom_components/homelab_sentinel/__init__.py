"""Homelab Sentinel: a home server's certificates, bans, backups and authentication."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.device_registry import DeviceEntry
from homeassistant.helpers.typing import ConfigType

from .certbot.coordinator import CertbotCoordinator, async_remove_store
from .certificate.coordinator import FileCertificateCoordinator, RemoteCertificateCoordinator
from .certificate.migration import async_migrate_certificate_file
from .certificate.renewal import async_remove_renewal_store
from .certificate.served import async_follow_certbot
from .const import CONF_KIND, DOMAIN, Kind
from .coordinator import SentinelConfigEntry, SentinelCoordinator
from .domoticz.coordinator import DomoticzCoordinator
from .duplicati.coordinator import DuplicatiCoordinator
from .fail2ban.coordinator import Fail2banCoordinator
from .heartbeat.coordinator import (
    HeartbeatCoordinator,
    async_remove_store as async_remove_heartbeat_store,
)
from .home_assistant.coordinator import (
    HomeAssistantCoordinator,
    async_remove_stores as async_remove_home_assistant_stores,
)
from .host.coordinator import HostCoordinator
from .repairs_support import async_delete_entry_issues
from .services import async_setup_services

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

COORDINATORS: dict[Kind, type[SentinelCoordinator[Any]]] = {
    Kind.CERTIFICATE: RemoteCertificateCoordinator,
    Kind.CERTIFICATE_FILE: FileCertificateCoordinator,
    Kind.FAIL2BAN: Fail2banCoordinator,
    Kind.DUPLICATI: DuplicatiCoordinator,
    Kind.DOMOTICZ: DomoticzCoordinator,
    Kind.CERTBOT: CertbotCoordinator,
    Kind.HOST: HostCoordinator,
    Kind.HOME_ASSISTANT: HomeAssistantCoordinator,
    Kind.HEARTBEAT: HeartbeatCoordinator,
}


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up the integration; actions are registered here, once."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: SentinelConfigEntry) -> bool:
    """Poll the entry's system once, then add its entities."""
    coordinator = COORDINATORS[Kind(entry.data[CONF_KIND])](hass, entry)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = coordinator
    coordinator.async_register_entry_device()
    entry.async_on_unload(coordinator.async_add_listener(coordinator.async_remove_stale_devices))
    if entry.data[CONF_KIND] == Kind.CERTBOT:
        # Its certificate files are compared with what TLS endpoints serve.
        async_follow_certbot(hass, entry)
    await hass.config_entries.async_forward_entry_setups(entry, list(coordinator.descriptions))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: SentinelConfigEntry) -> bool:
    """Remove the entry's entities."""
    return await hass.config_entries.async_unload_platforms(
        entry, list(entry.runtime_data.descriptions)
    )


async def async_remove_entry(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Drop the repair issues of a deleted entry, and what it stored."""
    async_delete_entry_issues(hass, entry)
    if entry.data.get(CONF_KIND) == Kind.CERTBOT:
        await async_remove_store(hass, entry)
    if entry.data.get(CONF_KIND) in (Kind.CERTIFICATE, Kind.CERTIFICATE_FILE):
        await async_remove_renewal_store(hass, entry.entry_id)

    if entry.data.get(CONF_KIND) == Kind.HOME_ASSISTANT:
        await async_remove_home_assistant_stores(hass)
    if entry.data.get(CONF_KIND) == Kind.HEARTBEAT:
        await async_remove_heartbeat_store(hass, entry)


async def async_migrate_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Bring entries stored by older versions up to date."""
    if entry.version > 1:
        return False
    if entry.minor_version < 2:
        if entry.data.get(CONF_KIND) == Kind.CERTIFICATE_FILE:
            await async_migrate_certificate_file(hass, entry)
        hass.config_entries.async_update_entry(entry, minor_version=2)
    return True


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: SentinelConfigEntry, device: DeviceEntry
) -> bool:
    """Allow removing a device only when its subject is gone."""
    coordinator = entry.runtime_data
    prefix = f"{entry.entry_id}-"
    for domain, identifier in device.identifiers:
        if domain == DOMAIN and identifier.startswith(prefix):
            return identifier[len(prefix) :] not in coordinator.data.subjects
    return False
