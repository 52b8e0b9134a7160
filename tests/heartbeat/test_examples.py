"""The examples the flow shows, run as a user would paste them: sh, curl, a backup tool."""

from __future__ import annotations

import asyncio
from pathlib import Path
import shutil
import stat

from homeassistant.core import HomeAssistant
import pytest

from .common import add_heartbeat
from .conftest import HassClient

pytestmark = pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("sh") is None, reason="needs sh and curl"
)


async def _examples(hass: HomeAssistant, client: HassClient) -> dict[str, str]:
    """The placeholders of the options form, with Home Assistant at the test server's address."""
    await hass.config.async_update(internal_url=str(client.make_url("/")).rstrip("/"))
    entry = await add_heartbeat(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    # The code blocks' contents.
    return {key: value.strip("`").strip() for key, value in placeholders.items()}


async def _sh(script: str, path: Path) -> int:
    process = await asyncio.create_subprocess_exec(
        "sh",
        "-c",
        script,
        env={"PATH": f"{path}:/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    await process.communicate()
    assert process.returncode is not None
    return process.returncode


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


async def test_the_wrapper(hass: HomeAssistant, client: HassClient, tmp_path: Path) -> None:
    """The borg/restic wrapper reports the start and the backup tool's own exit code."""
    wrapper = (await _examples(hass, client))["wrapper"]
    restic = tmp_path / "restic"
    # A restic that finds its repository locked: exit code 11, as restic's own.
    restic.write_text("#!/bin/sh\nsleep 1\nexit 11\n")
    restic.chmod(restic.stat().st_mode | stat.S_IXUSR)

    assert await _sh(wrapper, tmp_path) == 11
    await hass.async_block_till_done()
    assert _state(hass, "sensor.nightly_borg_last_result") == "failed"
    assert float(_state(hass, "sensor.nightly_borg_last_duration")) >= 1
    assert _state(hass, "binary_sensor.nightly_borg_heartbeat_problem") == "on"
    run = hass.states.get("event.nightly_borg_run")
    assert run is not None
    assert run.attributes["event_type"] == "failed"
    assert run.attributes["exit_code"] == 11

    restic.write_text("#!/bin/sh\nexit 0\n")
    assert await _sh(wrapper, tmp_path) == 0
    await hass.async_block_till_done()
    assert _state(hass, "sensor.nightly_borg_last_result") == "success"
    assert _state(hass, "binary_sensor.nightly_borg_heartbeat_problem") == "off"


async def test_the_cron_line(hass: HomeAssistant, client: HassClient, tmp_path: Path) -> None:
    """The cron line's command, as cron's shell runs it, reports the script's exit code."""
    cron = (await _examples(hass, client))["cron"]
    minute, hour, day, month, weekday, command = cron.split(" ", 5)
    assert (minute, hour, day, month, weekday) == ("0", "3", "*", "*", "*")
    script = tmp_path / "backup.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)

    assert await _sh(command.replace("/usr/local/bin/backup.sh", str(script)), tmp_path) == 0
    await hass.async_block_till_done()
    assert _state(hass, "sensor.nightly_borg_last_result") == "success"
    # The script is not there: the shell's 127 is reported as a failure.
    assert await _sh(command, tmp_path) == 0
    await hass.async_block_till_done()
    assert _state(hass, "sensor.nightly_borg_last_result") == "failed"
