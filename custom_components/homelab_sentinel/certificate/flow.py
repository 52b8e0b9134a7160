"""Config flow steps of the certificate kinds."""

from __future__ import annotations

import os
from typing import Any

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.const import CONF_HOST, CONF_PATH, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector
import probatio

from ..const import CONF_CA_FILE, CONF_KIND, CONF_SERVER_NAME, CONF_STARTTLS, Kind
from ..flow_support import FlowError, SentinelFlowBase, ValidatedEntry, flow_host, flow_number
from ..user_files import UserFileError, check_path, resolve_path
from .client import (
    CertificateError,
    CertificateFileReader,
    InvalidCAFileError,
    NoCertificateError,
    StartTLS,
    fetch_chain,
    file_error,
)
from .coordinator import async_trust_store, error_key

REMOTE_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_HOST): selector.TextSelector(),
        probatio.Required(CONF_PORT, default=443): selector.NumberSelector(
            selector.NumberSelectorConfig(min=1, max=65535, mode=selector.NumberSelectorMode.BOX)
        ),
        probatio.Optional(CONF_SERVER_NAME): selector.TextSelector(),
        probatio.Required(CONF_STARTTLS, default=StartTLS.NONE.value): selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=[protocol.value for protocol in StartTLS],
                translation_key=CONF_STARTTLS,
                mode=selector.SelectSelectorMode.DROPDOWN,
            )
        ),
        probatio.Optional(CONF_CA_FILE): selector.TextSelector(),
    }
)

FILE_SCHEMA = probatio.Schema({probatio.Required(CONF_PATH): selector.TextSelector()})


async def validate_remote(hass: HomeAssistant, user_input: dict[str, Any]) -> ValidatedEntry:
    """Fetch the endpoint's certificate once, as the coordinator will."""
    host = flow_host(user_input[CONF_HOST], CONF_HOST)
    port = flow_number(user_input[CONF_PORT], CONF_PORT, minimum=1, maximum=65535)
    server_name = str(user_input.get(CONF_SERVER_NAME) or "").strip()
    server_name = flow_host(server_name, CONF_SERVER_NAME) if server_name else host
    starttls = StartTLS(user_input.get(CONF_STARTTLS, StartTLS.NONE))
    ca_file = str(user_input.get(CONF_CA_FILE) or "").strip()
    if ca_file:
        try:
            ca_file = check_path(ca_file)
            await async_trust_store(hass, ca_file)
        except (UserFileError, InvalidCAFileError) as err:
            raise FlowError("invalid_ca_file", CONF_CA_FILE) from err
    try:
        await fetch_chain(host, port, server_name=server_name, starttls=starttls)
    except CertificateError as err:
        raise FlowError(error_key(err)) from err
    data: dict[str, Any] = {
        CONF_KIND: Kind.CERTIFICATE.value,
        CONF_HOST: host,
        CONF_PORT: port,
        CONF_SERVER_NAME: server_name,
        CONF_STARTTLS: starttls.value,
    }
    if ca_file:
        data[CONF_CA_FILE] = ca_file
    title = f"{host}:{port}" if server_name == host else f"{server_name} ({host}:{port})"
    return ValidatedEntry(f"cert:{host}:{port}:{server_name}", title, data)


def _probe_path(given: str) -> tuple[str, str]:
    """The path as the entry keeps it (``~`` expanded, links kept) and as it resolves."""
    try:
        path = os.path.expanduser(check_path(given))  # noqa: PTH111
        real = resolve_path(path)
    except UserFileError as err:
        raise file_error(err) from err
    if not CertificateFileReader(real).read():
        raise NoCertificateError(f"no certificate under {real}")
    return path, real


async def validate_file(hass: HomeAssistant, user_input: dict[str, Any]) -> ValidatedEntry:
    """Read the file or directory once, as the coordinator will."""
    try:
        path, real = await hass.async_add_executor_job(_probe_path, str(user_input[CONF_PATH]))
    except CertificateError as err:
        raise FlowError(error_key(err), CONF_PATH) from err
    # The path is kept as given, so a link such as live/NAME/fullchain.pem follows renewals.
    return ValidatedEntry(
        f"file:{real}", path, {CONF_KIND: Kind.CERTIFICATE_FILE.value, CONF_PATH: path}
    )


class CertificateFlowMixin(SentinelFlowBase):
    """The certificate and certificate_file steps."""

    async def async_step_certificate(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A remote TLS endpoint."""
        return await self._async_form_step(
            Kind.CERTIFICATE, REMOTE_SCHEMA, validate_remote, user_input
        )

    async def async_step_certificate_file(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A local PEM file, or a directory such as /etc/letsencrypt/live."""
        return await self._async_form_step(
            Kind.CERTIFICATE_FILE, FILE_SCHEMA, validate_file, user_input
        )
