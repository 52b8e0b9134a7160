"""The fix flow of an expiring or expired certificate that a certbot entry manages: renew now."""

from __future__ import annotations

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
import probatio

from ..const import DOMAIN
from .client import RenewalResult
from .coordinator import async_certbot_coordinator


class RenewCertificateRepairFlow(RepairsFlow):
    """Run ``certbot renew --cert-name NAME --force-renewal`` once the user confirms it."""

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> RepairsFlowResult:
        """Ask first."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Renew the certificate; the issue goes once it has been renewed."""
        data = self.data or {}
        cert_name = str(data.get("cert_name"))
        coordinator = async_certbot_coordinator(self.hass, str(data.get("certbot_entry_id")))
        if coordinator is None or cert_name not in coordinator.data.subjects:
            return self.async_abort(
                reason="certbot_unavailable", description_placeholders={"name": cert_name}
            )
        issue = ir.async_get(self.hass).async_get_issue(DOMAIN, self.issue_id)
        placeholders = {
            **((issue.translation_placeholders or {}) if issue else {}),
            "name": cert_name,
            "host": coordinator.config_entry.title,
            "error": "",
        }
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                outcome = await coordinator.async_renew(cert_name, force=True)
            except HomeAssistantError as err:
                errors["base"] = "renewal_failed"
                placeholders["error"] = str(err)
            else:
                if outcome.result is RenewalResult.RENEWED:
                    return self.async_create_entry(data={})
                errors["base"] = "renewal_failed"
                placeholders["error"] = outcome.summary
        return self.async_show_form(
            step_id="confirm",
            data_schema=probatio.Schema({}),
            errors=errors,
            description_placeholders=placeholders,
        )
