"""The fail2ban step of the config flow, against real files."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel.const import DOMAIN

from .conftest import SSHD, append, f2b_line
from .database import Fail2banDb


async def _form(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "fail2ban"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "fail2ban"
    flow_id: str = result["flow_id"]
    return flow_id


async def test_database(hass: HomeAssistant, tmp_path: Path) -> None:
    database = tmp_path / "fail2ban.sqlite3"
    await hass.async_add_executor_job(Fail2banDb, database, SSHD)
    result = await hass.config_entries.flow.async_configure(
        await _form(hass), {"source": "database", "path": str(database)}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"fail2ban {database}"
    assert result["data"] == {"kind": "fail2ban", "source": "database", "path": str(database)}
    assert result["result"].unique_id == f"fail2ban:database:{database}"


async def test_log_through_a_link(hass: HomeAssistant, tmp_path: Path) -> None:
    log = tmp_path / "fail2ban.log"
    append(log, f2b_line("[sshd] Ban 192.0.2.1"))
    link = tmp_path / "link.log"
    link.symlink_to(log)
    result = await hass.config_entries.flow.async_configure(
        await _form(hass), {"source": "log", "path": str(link)}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["path"] == str(log)
    assert result["result"].unique_id == f"fail2ban:log:{log}"


async def test_default_path_and_title(hass: HomeAssistant, tmp_path: Path) -> None:
    log = tmp_path / "fail2ban.log"
    append(log, f2b_line("[sshd] Ban 192.0.2.1"))
    with patch.dict(
        "custom_components.homelab_sentinel.fail2ban.flow.DEFAULT_PATHS", {"log": str(log)}
    ):
        result = await hass.config_entries.flow.async_configure(
            await _form(hass), {"source": "log"}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "fail2ban"
    assert result["data"]["path"] == str(log)


@pytest.mark.parametrize(
    ("source", "content", "error"),
    [
        ("log", None, "not_found"),
        ("log", b"just some other log\n", "not_fail2ban"),
        ("database", b"SQLite format 3\x00" + b"\x00" * 200, "not_fail2ban"),
        ("database", b"not sqlite at all", "not_fail2ban"),
    ],
)
async def test_errors(
    hass: HomeAssistant, tmp_path: Path, source: str, content: bytes | None, error: str
) -> None:
    path = tmp_path / "target"
    if content is not None:
        path.write_bytes(content)
    result = await hass.config_entries.flow.async_configure(
        await _form(hass), {"source": source, "path": str(path)}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"path": error}


async def test_permission_denied(hass: HomeAssistant, tmp_path: Path) -> None:
    log = tmp_path / "fail2ban.log"
    log.write_text("x")
    with patch(
        "custom_components.homelab_sentinel.fail2ban.client.os.open",
        side_effect=PermissionError(13, "Permission denied"),
    ):
        result = await hass.config_entries.flow.async_configure(
            await _form(hass), {"source": "log", "path": str(log)}
        )
    assert result["errors"] == {"path": "permission_denied"}


async def test_already_configured(hass: HomeAssistant, tmp_path: Path) -> None:
    log = tmp_path / "fail2ban.log"
    append(log, f2b_line("[sshd] Ban 192.0.2.1"))
    MockConfigEntry(
        domain=DOMAIN, unique_id=f"fail2ban:log:{log}", data={"kind": "fail2ban"}
    ).add_to_hass(hass)
    result = await hass.config_entries.flow.async_configure(
        await _form(hass), {"source": "log", "path": str(log)}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_options(hass: HomeAssistant, tmp_path: Path) -> None:
    log = tmp_path / "fail2ban.log"
    append(log, f2b_line("[sshd] Ban 192.0.2.1"))
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="fail2ban",
        unique_id=f"fail2ban:log:{log}",
        data={"kind": "fail2ban", "source": "log", "path": str(log)},
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.update_interval.total_seconds() == 30
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"scan_interval": 60}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.runtime_data.update_interval.total_seconds() == 60
