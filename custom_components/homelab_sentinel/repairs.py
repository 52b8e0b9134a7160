"""Fix flows of the repair issues that Homelab Sentinel can fix itself."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
import probatio

from .certbot.coordinator import FIX_RENEW_CERTIFICATE
from .certbot.repairs import RenewCertificateRepairFlow
from .const import DOMAIN
from .duplicati.coordinator import FIX_START_BACKUP, DuplicatiCoordinator
from .ssh_support import FIX_REAUTHENTICATE


class _ConfirmThenActRepairFlow(RepairsFlow, ABC):
    """Ask for a confirmation, then act on the issue's config entry."""

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> RepairsFlowResult:
        """Ask first."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Act once confirmed."""
        data = self.data or {}
        if user_input is not None:
            entry = self.hass.config_entries.async_get_entry(str(data.get("entry_id")))
            if entry is None or entry.state is not ConfigEntryState.LOADED:
                return self.async_abort(reason="not_loaded")
            return await self._async_act(entry, data)
        issue = ir.async_get(self.hass).async_get_issue(DOMAIN, self.issue_id)
        return self.async_show_form(
            step_id="confirm",
            data_schema=probatio.Schema({}),
            description_placeholders=issue.translation_placeholders if issue else None,
        )

    @abstractmethod
    async def _async_act(self, entry: ConfigEntry, data: dict[str, Any]) -> RepairsFlowResult:
        """Fix the issue for entry."""


class StartBackupRepairFlow(_ConfirmThenActRepairFlow):
    """Start a backup of a failing or overdue Duplicati job; the issue clears once it succeeds."""

    async def _async_act(self, entry: ConfigEntry, data: dict[str, Any]) -> RepairsFlowResult:
        coordinator: DuplicatiCoordinator = entry.runtime_data
        try:
            await coordinator.async_start_backup(str(data.get("backup_id")))
        except HomeAssistantError:
            return self.async_abort(reason="start_failed")
        return self.async_create_entry(data={})


class ReauthenticateRepairFlow(_ConfirmThenActRepairFlow):
    """Open the entry's reauthentication, where a changed host key or new credentials are given."""

    async def _async_act(self, entry: ConfigEntry, data: dict[str, Any]) -> RepairsFlowResult:
        entry.async_start_reauth(self.hass)
        return self.async_create_entry(data={})


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """The fix flow an issue names in its data, or a plain confirmation."""
    if data is not None and data.get("fix_flow") == FIX_START_BACKUP:
        return StartBackupRepairFlow()
    if data is not None and data.get("fix_flow") == FIX_RENEW_CERTIFICATE:
        return RenewCertificateRepairFlow()
    if data is not None and data.get("fix_flow") == FIX_REAUTHENTICATE:
        return ReauthenticateRepairFlow()
    return ConfirmRepairFlow()
