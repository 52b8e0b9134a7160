"""Fix flows of the repair issues that Homelab Sentinel can fix itself."""

from __future__ import annotations

from typing import Any

from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
import probatio

from .certbot.coordinator import FIX_RENEW_CERTIFICATE
from .certbot.repairs import RenewCertificateRepairFlow
from .const import DOMAIN
from .duplicati.coordinator import FIX_START_BACKUP, DuplicatiCoordinator


class StartBackupRepairFlow(RepairsFlow):
    """Start a backup of a failing or overdue Duplicati job, after a confirmation."""

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> RepairsFlowResult:
        """Ask first."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Start the backup once confirmed; the issue clears when the job has succeeded."""
        data = self.data or {}
        if user_input is not None:
            entry = self.hass.config_entries.async_get_entry(str(data.get("entry_id")))
            if entry is None or entry.state is not ConfigEntryState.LOADED:
                return self.async_abort(reason="not_loaded")
            coordinator: DuplicatiCoordinator = entry.runtime_data
            try:
                await coordinator.async_start_backup(str(data.get("backup_id")))
            except HomeAssistantError:
                return self.async_abort(reason="start_failed")
            return self.async_create_entry(data={})
        issue = ir.async_get(self.hass).async_get_issue(DOMAIN, self.issue_id)
        return self.async_show_form(
            step_id="confirm",
            data_schema=probatio.Schema({}),
            description_placeholders=issue.translation_placeholders if issue else None,
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """The fix flow an issue names in its data, or a plain confirmation."""
    if data is not None and data.get("fix_flow") == FIX_START_BACKUP:
        return StartBackupRepairFlow()
    if data is not None and data.get("fix_flow") == FIX_RENEW_CERTIFICATE:
        return RenewCertificateRepairFlow()
    return ConfirmRepairFlow()
