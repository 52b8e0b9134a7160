"""Coordinator of the domoticz kind: one poll of a Domoticz server's authentication posture."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from homeassistant.const import CONF_PASSWORD, CONF_URL, CONF_USERNAME, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.update_coordinator import UpdateFailed

from ..const import DOMAIN, LOGGER
from ..coordinator import SentinelConfigEntry, SentinelCoordinator
from ..errors import ErrorKeys, error_key_in
from ..repairs_support import WantedIssue, async_sync_issues
from .client import (
    DomoticzCertificateError,
    DomoticzClient,
    DomoticzConnectionError,
    DomoticzError,
)
from .entities import DOMOTICZ_DESCRIPTIONS, DomoticzStatus
from .models import DomoticzSnapshot, FailedLogin, Login, OpenCause

# The repair text for an instance open to everyone depends on what opened it.
_OPEN_ISSUE_BY_CAUSE = {
    OpenCause.CATCH_ALL_NETWORK: "domoticz_open_catch_all",
    OpenCause.NOWWWPWD: "domoticz_open_nowwwpwd",
    OpenCause.PROTECTION_OFF: "domoticz_open_protection_off",
}


@dataclass(frozen=True, slots=True)
class DomoticzData:
    """The one Domoticz server an entry watches, under the name ``""``."""

    subjects: Mapping[str, DomoticzStatus]


# Entry data: the Domoticz version (or "" when unknown) whose server refused the OAuth2 password
# grant of its stock application. Each attempt writes an error line into the user's Domoticz log,
# so it is made again only after the credentials or the server's version changed.
CONF_OAUTH_REFUSED = "oauth_refused"


def make_client(
    hass: HomeAssistant,
    url: str,
    username: str | None,
    password: str | None,
    verify_ssl: bool,
    *,
    oauth_refused: bool = False,
) -> DomoticzClient:
    """A client on Home Assistant's shared HTTP session."""
    return DomoticzClient(
        async_get_clientsession(hass, verify_ssl=verify_ssl),
        url,
        username or None,
        password or None,
        verify_ssl,
        oauth_refused=oauth_refused,
    )


def without_oauth_refusal(data: Mapping[str, object]) -> dict[str, object]:
    """Entry data that lets the client try the OAuth2 grant again."""
    return {key: value for key, value in data.items() if key != CONF_OAUTH_REFUSED}


def wanted_issues(snapshot: DomoticzSnapshot, name: str) -> dict[str, WantedIssue]:
    """The repair issues a snapshot calls for."""
    wanted: dict[str, WantedIssue] = {}
    if snapshot.exposed_to_everyone and snapshot.open_cause is not None:
        wanted["domoticz_open_to_everyone"] = WantedIssue(
            _OPEN_ISSUE_BY_CAUSE[snapshot.open_cause],
            {
                "name": name,
                "networks": "; ".join(snapshot.catch_all_networks) or "-",
            },
            severity=ir.IssueSeverity.ERROR,
        )
    if snapshot.plain_basic_auth:
        wanted["domoticz_plain_basic_auth"] = WantedIssue(
            "domoticz_plain_basic_auth", {"name": name}
        )
    if snapshot.log_available and snapshot.default_password_warning:
        wanted["domoticz_default_password"] = WantedIssue(
            "domoticz_default_password", {"name": name}, severity=ir.IssueSeverity.ERROR
        )
    return wanted


_UPDATE_ERROR_KEYS: ErrorKeys = (
    (DomoticzCertificateError, "domoticz_invalid_certificate"),
    (DomoticzConnectionError, "domoticz_cannot_connect"),
    (DomoticzError, "domoticz_invalid_response"),
)


class DomoticzCoordinator(SentinelCoordinator[DomoticzData]):
    """Reads whether Domoticz lets anyone in, and whether our credentials work.

    Rejected credentials do not make the entities unavailable: the anonymous probe still
    tells whether Domoticz is open, and the login sensor shows `rejected` while Home Assistant
    asks the user for the new password (a reauth flow).
    """

    descriptions = DOMOTICZ_DESCRIPTIONS
    device_model = "Domoticz"

    def __init__(self, hass: HomeAssistant, entry: SentinelConfigEntry) -> None:
        """Prepare the client; nothing is sent before the first refresh."""
        super().__init__(hass, entry)
        data = entry.data
        self.url: str = data[CONF_URL]
        self.client = make_client(
            hass,
            data[CONF_URL],
            data.get(CONF_USERNAME),
            data.get(CONF_PASSWORD),
            data.get(CONF_VERIFY_SSL, True),
            oauth_refused=CONF_OAUTH_REFUSED in data,
        )
        self._last_failed_login: FailedLogin | None = None
        self._rejected = False

    async def async_shutdown(self) -> None:
        """Stop polling and end the Domoticz session, if one is open."""
        await super().async_shutdown()
        await self.client.async_close()

    async def _async_update_data(self) -> DomoticzData:
        url = self.url
        try:
            snapshot = await self.client.async_poll()
        except DomoticzError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key=error_key_in(_UPDATE_ERROR_KEYS, err),
                translation_placeholders={"url": url, "error": str(err)},
            ) from err
        self._note_login(snapshot)
        self._remember_oauth_refusal(snapshot)
        if snapshot.new_failed_logins:
            self._last_failed_login = snapshot.new_failed_logins[-1]
        async_sync_issues(
            self.hass, self.config_entry, wanted_issues(snapshot, self.config_entry.title)
        )
        return DomoticzData({"": DomoticzStatus(snapshot, self._last_failed_login)})

    def _remember_oauth_refusal(self, snapshot: DomoticzSnapshot) -> None:
        """Keep the server's refusal of the OAuth2 grant in the entry, per Domoticz version."""
        data = self.config_entry.data
        stored = data.get(CONF_OAUTH_REFUSED)
        version = snapshot.version or ""
        if stored and version and stored != version:
            # An upgraded Domoticz may grant it: one more try, at the next login.
            self.client.retry_oauth()
            self.hass.config_entries.async_update_entry(
                self.config_entry, data=without_oauth_refusal(data)
            )
        elif self.client.oauth_refused and stored != version and (version or stored is None):
            self.hass.config_entries.async_update_entry(
                self.config_entry, data={**data, CONF_OAUTH_REFUSED: version}
            )

    def _note_login(self, snapshot: DomoticzSnapshot) -> None:
        """Ask for new credentials once Domoticz rejects the configured ones."""
        rejected = snapshot.login is Login.REJECTED
        if rejected:
            if not self._rejected:
                LOGGER.warning(
                    "Domoticz at %s rejected the configured credentials (%s); asking for new ones",
                    self.url,
                    snapshot.login_problem,
                )
            # Home Assistant starts one reauth flow at most, whatever the number of calls.
            self.config_entry.async_start_reauth(self.hass)
        self._rejected = rejected
