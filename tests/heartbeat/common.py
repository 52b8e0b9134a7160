"""Helpers for the heartbeat tests: entries, and Duplicati's reports as it sends them.

A report is what Duplicati's ``send-http`` module posts with
``--send-http-result-output-format=Json``: its JSON serializer wraps the operation's result object
as ``Data`` (Newtonsoft, PascalCase, enums as strings, the ``Messages``/``Warnings``/``Errors``
lists left out), the report's variables as ``Extra`` (strings: ``backup-name``, ``machine-id``,
...), and the captured log lines as ``LogLines``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
from typing import Any

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel.const import DOMAIN

# Never to be seen in the integration's logs, states, attributes or diagnostics.
WEBHOOK_ID = "5f0c1e9a2b7d4c3e8a6f1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6"


def _dotnet_time(moment: datetime) -> str:
    """A UTC DateTime as Newtonsoft writes it: seven fractional digits and a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def duplicati_report(
    parsed_result: str = "Success",
    *,
    operation: str = "Backup",
    began: datetime | None = None,
    seconds: float = 125.5,
    backup_name: str = "Documents",
) -> bytes:
    """A report as Duplicati 2.x sends it for one operation."""
    began = began or datetime(2026, 12, 5, 3, 0, 0, 123456, tzinfo=UTC)
    ended = began + timedelta(seconds=seconds)
    data: dict[str, Any] = {
        "DeletedFiles": 0,
        "DeletedFolders": 0,
        "ModifiedFiles": 3,
        "ExaminedFiles": 1204,
        "OpenedFiles": 5,
        "AddedFiles": 2,
        "SizeOfModifiedFiles": 40960,
        "SizeOfAddedFiles": 8192,
        "SizeOfExaminedFiles": 734003200,
        "SizeOfOpenedFiles": 49152,
        "NotProcessedFiles": 0,
        "AddedFolders": 0,
        "TooLargeFiles": 0,
        "FilesWithError": 1 if parsed_result in {"Warning", "Error"} else 0,
        "ModifiedFolders": 0,
        "ModifiedSymlinks": 0,
        "AddedSymlinks": 0,
        "DeletedSymlinks": 0,
        "PartialBackup": False,
        "Dryrun": False,
        "MainOperation": operation,
        "CompactResults": None,
        "VacuumResults": None,
        "DeleteResults": {
            "DeletedSetsActualLength": 0,
            "DeletedSets": [],
            "Dryrun": False,
            "MainOperation": "Delete",
            "ParsedResult": "Success",
            "Interrupted": False,
            "Version": "2.1.0.5 (2.1.0.5_stable_2025-03-04)",
            "EndTime": _dotnet_time(ended),
            "BeginTime": _dotnet_time(ended - timedelta(seconds=1)),
            "Duration": "00:00:00.9870000",
            "MessagesActualLength": 0,
            "WarningsActualLength": 0,
            "ErrorsActualLength": 0,
        },
        "RepairResults": None,
        "TestResults": None,
        "ParsedResult": parsed_result,
        "Interrupted": False,
        "Version": "2.1.0.5 (2.1.0.5_stable_2025-03-04)",
        "EndTime": _dotnet_time(ended),
        "BeginTime": _dotnet_time(began),
        "Duration": str(timedelta(seconds=seconds)),
        "MessagesActualLength": 42,
        "WarningsActualLength": 1 if parsed_result == "Warning" else 0,
        "ErrorsActualLength": 1 if parsed_result in {"Error", "Fatal"} else 0,
        "BackendStatistics": {
            "RemoteCalls": 12,
            "BytesUploaded": 52428,
            "BytesDownloaded": 0,
            "FilesUploaded": 3,
            "FilesDownloaded": 0,
            "FilesDeleted": 0,
            "FoldersCreated": 0,
            "RetryAttempts": 0,
            "UnknownFileSize": 0,
            "UnknownFileCount": 0,
            "KnownFileCount": 240,
            "KnownFileSize": 512000000,
            "LastBackupDate": _dotnet_time(began),
            "BackupListCount": 31,
            "TotalQuotaSpace": 0,
            "FreeQuotaSpace": 0,
            "AssignedQuotaSpace": -1,
            "ReportedQuotaError": False,
            "ReportedQuotaWarning": False,
            "MainOperation": operation,
            "ParsedResult": "Success",
            "Interrupted": False,
            "Version": "2.1.0.5 (2.1.0.5_stable_2025-03-04)",
            "EndTime": "0001-01-01T00:00:00",
            "BeginTime": _dotnet_time(began),
            "Duration": "00:00:00",
            "MessagesActualLength": 0,
            "WarningsActualLength": 0,
            "ErrorsActualLength": 0,
        },
    }
    extra = {
        "machine-id": "a1b2c3d4e5f6",
        "backup-id": "DB-1",
        "backup-name": backup_name,
        "machine-name": "nas",
        "operating-system": "Linux",
        "installation-type": "Docker",
        "destination-type": "s3",
        "next-scheduled-run": _dotnet_time(began + timedelta(days=1)),
    }
    stamp = f"{began:%Y-%m-%d %H:%M:%S %z}"
    starting = "[Information-Duplicati.Library.Main.Controller-StartingOperation]"
    log_lines = [f"{stamp} - {starting}: The operation {operation} has started"]
    if parsed_result == "Warning":
        log_lines.append(
            f"{stamp} - [Warning-Duplicati.Library.Main.Operation.Backup.FileBlockProcessor"
            ".FileEntry-PathProcessingFailed]: Failed to process path: /srv/locked.db"
        )
    return json.dumps({"Data": data, "Extra": extra, "LogLines": log_lines}).encode()


async def add_heartbeat(
    hass: HomeAssistant,
    *,
    name: str = "Nightly borg",
    options: dict[str, Any] | None = None,
    period_hours: int = 24,
    grace_minutes: int = 60,
    entry_id: str | None = None,
    webhook_id: str = WEBHOOK_ID,
    setup: bool = True,
) -> MockConfigEntry:
    """A heartbeat entry with a known webhook id, set up unless told otherwise."""
    extra: dict[str, Any] = {"entry_id": entry_id} if entry_id else {}
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=name,
        unique_id=f"heartbeat:{name.lower().replace(' ', '_')}",
        data={
            "kind": "heartbeat",
            "name": name,
            "period_hours": period_hours,
            "grace_minutes": grace_minutes,
            "webhook_id": webhook_id,
        },
        options=options or {},
        **extra,
    )
    entry.add_to_hass(hass)
    if setup:
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    return entry
