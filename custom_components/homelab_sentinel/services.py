"""Actions, registered once in async_setup: they act on the device of a loaded entry."""

from __future__ import annotations

from typing import Final, cast

from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, service
import probatio

from .certbot.services import async_setup_certbot_services
from .const import CONF_KIND, DOMAIN, Kind
from .coordinator import SentinelConfigEntry
from .duplicati.coordinator import DuplicatiCoordinator

SERVICE_START_BACKUP: Final = "start_backup"
SERVICE_VERIFY_BACKUP: Final = "verify_backup"
ATTR_SKIP_QUEUE: Final = "skip_queue"

START_BACKUP_SCHEMA = probatio.Schema(
    {
        probatio.Required(ATTR_DEVICE_ID): cv.string,
        probatio.Optional(ATTR_SKIP_QUEUE, default=False): cv.boolean,
    }
)

VERIFY_BACKUP_SCHEMA = probatio.Schema({probatio.Required(ATTR_DEVICE_ID): cv.string})


@callback
def async_backup_job(hass: HomeAssistant, device_id: str) -> tuple[DuplicatiCoordinator, str]:
    """The coordinator and backup ID of a Duplicati backup-job device.

    Raises ServiceValidationError for an unknown device, one of another integration or of an
    entry that is not loaded, and for any device that is not a backup job now on the server.
    """
    device, entry = service.async_get_device_and_config_entry(
        hass, DOMAIN, device_id, include_child_devices=False
    )
    prefix = f"{entry.entry_id}-"
    if entry.data.get(CONF_KIND) == Kind.DUPLICATI:
        coordinator = cast("SentinelConfigEntry", entry).runtime_data
        for domain, identifier in device.identifiers:
            backup_id = identifier.removeprefix(prefix)
            if (
                domain == DOMAIN
                and identifier.startswith(prefix)
                and backup_id in coordinator.data.subjects
            ):
                return cast("DuplicatiCoordinator", coordinator), backup_id
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="not_a_backup_job",
        translation_placeholders={"device": device.name_by_user or device.name or device_id},
    )


async def _async_start_backup(call: ServiceCall) -> ServiceResponse:
    """Queue a backup of the job now; answer with its task ID when asked."""
    coordinator, backup_id = async_backup_job(call.hass, call.data[ATTR_DEVICE_ID])
    task_id = await coordinator.async_start_backup(backup_id, skip_queue=call.data[ATTR_SKIP_QUEUE])
    return {"task_id": task_id} if call.return_response else None


async def _async_verify_backup(call: ServiceCall) -> ServiceResponse:
    """Queue a verification of the job's remote files; answer with its task ID when asked."""
    coordinator, backup_id = async_backup_job(call.hass, call.data[ATTR_DEVICE_ID])
    task_id = await coordinator.async_verify_backup(backup_id)
    return {"task_id": task_id} if call.return_response else None


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_START_BACKUP,
        _async_start_backup,
        schema=START_BACKUP_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_VERIFY_BACKUP,
        _async_verify_backup,
        schema=VERIFY_BACKUP_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    async_setup_certbot_services(hass)
