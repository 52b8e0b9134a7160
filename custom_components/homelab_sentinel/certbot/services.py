"""The renew_certificates action: run certbot renew on a certbot host, answer with the outcome."""

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

from ..const import CONF_KIND, DOMAIN, Kind
from .client import InvalidSettingError, RenewalOutcome, validate_cert_name
from .coordinator import CertbotCoordinator

SERVICE_RENEW_CERTIFICATES: Final = "renew_certificates"
ATTR_CERT_NAME: Final = "cert_name"
ATTR_FORCE: Final = "force"
ATTR_DRY_RUN: Final = "dry_run"

RENEW_CERTIFICATES_SCHEMA = probatio.Schema(
    {
        probatio.Required(ATTR_DEVICE_ID): cv.string,
        probatio.Optional(ATTR_CERT_NAME): cv.string,
        probatio.Optional(ATTR_FORCE, default=False): cv.boolean,
        probatio.Optional(ATTR_DRY_RUN, default=False): cv.boolean,
    }
)


@callback
def async_certbot_target(
    hass: HomeAssistant, device_id: str, cert_name: str | None
) -> tuple[CertbotCoordinator, str | None]:
    """The coordinator of a certbot host device, and the certificate to renew, if one.

    A certificate's own device stands for its host and names the certificate. Raises
    ServiceValidationError for any other device, and for a certificate name that is not a
    lineage name or that certbot does not manage there.
    """
    device, entry = service.async_get_device_and_config_entry(
        hass, DOMAIN, device_id, include_child_devices=False
    )
    if entry.data.get(CONF_KIND) != Kind.CERTBOT:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="not_a_certbot_host",
            translation_placeholders={"device": device.name_by_user or device.name or device_id},
        )
    coordinator = cast("CertbotCoordinator", entry.runtime_data)
    prefix = f"{entry.entry_id}-"
    for domain, identifier in device.identifiers:
        if domain == DOMAIN and identifier.startswith(prefix):
            device_cert = identifier.removeprefix(prefix)
            if cert_name not in (None, device_cert):
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="cert_name_mismatch",
                    translation_placeholders={"cert_name": str(cert_name), "device": device_cert},
                )
            cert_name = device_cert
    if cert_name is None:
        return coordinator, None
    try:
        validate_cert_name(cert_name)
    except InvalidSettingError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_cert_name",
            translation_placeholders={"cert_name": cert_name},
        ) from err
    if cert_name not in coordinator.data.subjects:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_cert_name",
            translation_placeholders={"cert_name": cert_name, "name": entry.title},
        )
    return coordinator, cert_name


def renewal_response(coordinator: CertbotCoordinator, outcome: RenewalOutcome) -> ServiceResponse:
    """The action's answer: overall result, each certificate's result and expiry, last lines."""
    subjects = coordinator.data.subjects
    return {
        "result": outcome.result.value,
        "dry_run": outcome.dry_run,
        "certificates": [
            {
                "name": name,
                "result": result.value,
                "expires": (
                    subjects[name].lineage.expires.isoformat() if name in subjects else None
                ),
            }
            for name, result in outcome.certificates.items()
        ],
        "output": outcome.output,
    }


async def _async_renew_certificates(call: ServiceCall) -> ServiceResponse:
    """Renew the due certificates of a host, or one; answer with the outcome when asked."""
    coordinator, cert_name = async_certbot_target(
        call.hass, call.data[ATTR_DEVICE_ID], call.data.get(ATTR_CERT_NAME)
    )
    outcome = await coordinator.async_renew(
        cert_name, force=call.data[ATTR_FORCE], dry_run=call.data[ATTR_DRY_RUN]
    )
    return renewal_response(coordinator, outcome) if call.return_response else None


@callback
def async_setup_certbot_services(hass: HomeAssistant) -> None:
    """Register the renew_certificates action."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_RENEW_CERTIFICATES,
        _async_renew_certificates,
        schema=RENEW_CERTIFICATES_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
