"""Keep an entry's repair issues in step with what its last poll found."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN


@dataclass(frozen=True, slots=True)
class WantedIssue:
    """A repair issue that should exist now."""

    translation_key: str
    placeholders: dict[str, str] = field(default_factory=dict)
    severity: ir.IssueSeverity = ir.IssueSeverity.WARNING
    fixable: bool = False
    data: dict[str, str | int | float | None] | None = None


def _prefix(entry: ConfigEntry) -> str:
    return f"{entry.entry_id}_"


@callback
def async_sync_issues(
    hass: HomeAssistant, entry: ConfigEntry, wanted: Mapping[str, WantedIssue]
) -> None:
    """Create the wanted issues of an entry and delete the ones that cleared."""
    prefix = _prefix(entry)
    registry = ir.async_get(hass)
    for domain, issue_id in list(registry.issues):
        if (
            domain == DOMAIN
            and issue_id.startswith(prefix)
            and issue_id[len(prefix) :] not in wanted
        ):
            ir.async_delete_issue(hass, DOMAIN, issue_id)
    for key, issue in wanted.items():
        ir.async_create_issue(
            hass,
            DOMAIN,
            prefix + key,
            is_fixable=issue.fixable,
            severity=issue.severity,
            translation_key=issue.translation_key,
            translation_placeholders=issue.placeholders,
            data={"entry_id": entry.entry_id, **(issue.data or {})},
        )


@callback
def async_delete_entry_issues(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Delete every repair issue of an entry that is being removed."""
    async_sync_issues(hass, entry, {})
