"""What the certbot kind shows: each certificate's expiry, the host's last renewal, a button."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.const import Platform
from homeassistant.exceptions import HomeAssistantError

from ..button import SentinelButtonDescription
from ..certificate.entities import DAYS_REMAINING
from ..const import DOMAIN
from ..sensor import SentinelSensorDescription
from .client import RenewalResult

if TYPE_CHECKING:
    from .coordinator import CertbotCoordinator


async def _press_renew(coordinator: CertbotCoordinator, subject: str | None) -> None:
    """Renew every certificate that is due; a failed run is reported as an error."""
    outcome = await coordinator.async_renew()
    if outcome.result is RenewalResult.FAILED:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="certbot_renewal_failed",
            translation_placeholders={
                "name": coordinator.config_entry.title,
                "output": outcome.summary,
            },
        )


def _last_renewal_attributes(data: Any) -> dict[str, Any]:
    last = data.last_renewal
    if last is None:
        return {}
    return {"certificates": {name: result.value for name, result in last.certificates.items()}}


CERTBOT_DESCRIPTIONS = {
    Platform.SENSOR: (
        SentinelSensorDescription(
            key="expires",
            translation_key="expires",
            device_class=SensorDeviceClass.TIMESTAMP,
            value_fn=lambda status: status.lineage.expires,
            attributes_fn=lambda status: {
                "domains": list(status.lineage.domains),
                "validity": status.lineage.state.value,
            },
        ),
        DAYS_REMAINING,
        SentinelSensorDescription(
            key="last_renewal",
            translation_key="last_renewal",
            device_class=SensorDeviceClass.TIMESTAMP,
            per_subject=False,
            value_fn=lambda data: data.last_renewal.finished if data.last_renewal else None,
        ),
        SentinelSensorDescription(
            key="last_renewal_result",
            translation_key="last_renewal_result",
            device_class=SensorDeviceClass.ENUM,
            options=[result.value for result in RenewalResult],
            per_subject=False,
            value_fn=lambda data: data.last_renewal.result.value if data.last_renewal else None,
            attributes_fn=_last_renewal_attributes,
        ),
    ),
    Platform.BUTTON: (
        SentinelButtonDescription(
            key="renew",
            translation_key="renew",
            per_subject=False,
            press_fn=_press_renew,
        ),
    ),
}
