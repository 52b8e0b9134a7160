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

DEFAULT_WARNING_DAYS: Final = 14
# How many checks run at once across all entries, so that 50 entries do not open 50 sockets at once.
MAX_CONCURRENT_CHECKS: Final = 16


class Kind(StrEnum):
    """What one config entry monitors; the user step's menu options."""

    CERTIFICATE = "certificate"
    CERTIFICATE_FILE = "certificate_file"


DEFAULT_SCAN_INTERVAL: Final[dict[Kind, timedelta]] = {
    Kind.CERTIFICATE: timedelta(hours=1),
    Kind.CERTIFICATE_FILE: timedelta(hours=1),
}
