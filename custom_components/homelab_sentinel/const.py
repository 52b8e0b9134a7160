"""Names shared across Homelab Sentinel; those in SPEC.md are fixed."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
import logging
from typing import Final

DOMAIN: Final = "homelab_sentinel"
LOGGER = logging.getLogger(__package__)

CONF_KIND: Final = "kind"
CONF_SERVER_NAME: Final = "server_name"
CONF_STARTTLS: Final = "starttls"
CONF_CA_FILE: Final = "ca_file"
CONF_WARNING_DAYS: Final = "warning_days"
CONF_MAX_AGE_HOURS: Final = "max_age_hours"
CONF_CHECK_PLAIN_HTTP: Final = "check_plain_http"
CONF_SOURCE: Final = "source"
CONF_AUTH_METHOD: Final = "auth_method"
CONF_SIGNIN_STATE: Final = "signin_state"
# certbot: where it runs and how it is reached.
CONF_TRANSPORT: Final = "transport"
CONF_CERTBOT_COMMAND: Final = "certbot_command"
CONF_CONFIG_DIR: Final = "config_dir"
CONF_ACME_SERVER: Final = "acme_server"
CONF_PRIVATE_KEY: Final = "private_key"
CONF_USE_SUDO: Final = "use_sudo"
CONF_HOST_KEY: Final = "host_key"
# home_assistant: how old a long-lived token may get before it counts as old.
CONF_TOKEN_MAX_AGE_DAYS: Final = "token_max_age_days"  # noqa: S105 - an option name
# heartbeat: how often the job must succeed, and who may call its webhook.
CONF_PERIOD_HOURS: Final = "period_hours"
CONF_GRACE_MINUTES: Final = "grace_minutes"
CONF_ALLOW_INTERNET: Final = "allow_internet"

DEFAULT_WARNING_DAYS: Final = 14
DEFAULT_MAX_AGE_HOURS: Final = 36
DEFAULT_CHECK_PLAIN_HTTP: Final = True
DEFAULT_TOKEN_MAX_AGE_DAYS: Final = 365
DEFAULT_PERIOD_HOURS: Final = 24
DEFAULT_GRACE_MINUTES: Final = 60
# How many checks run at once across all entries, so that 50 entries do not open 50 sockets at once.
MAX_CONCURRENT_CHECKS: Final = 16


class Kind(StrEnum):
    """What one config entry monitors; the user step's menu options."""

    CERTIFICATE = "certificate"
    CERTIFICATE_FILE = "certificate_file"
    FAIL2BAN = "fail2ban"
    DUPLICATI = "duplicati"
    DOMOTICZ = "domoticz"
    CERTBOT = "certbot"
    HOST = "host"
    HOME_ASSISTANT = "home_assistant"
    HEARTBEAT = "heartbeat"


DEFAULT_SCAN_INTERVAL: Final[dict[Kind, timedelta]] = {
    Kind.CERTIFICATE: timedelta(hours=1),
    Kind.CERTIFICATE_FILE: timedelta(hours=1),
    Kind.FAIL2BAN: timedelta(seconds=30),
    Kind.DUPLICATI: timedelta(minutes=5),
    Kind.DOMOTICZ: timedelta(minutes=5),
    Kind.CERTBOT: timedelta(hours=6),
    Kind.HOST: timedelta(hours=1),
    Kind.HOME_ASSISTANT: timedelta(hours=1),
}
