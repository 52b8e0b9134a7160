"""The host client against real apt, dpkg, sshd and OpenSSH, here and over SSH."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
import contextlib
from datetime import UTC, datetime
import os
from pathlib import Path

import pytest

from custom_components.homelab_sentinel.host.client import (
    HostClient,
    HostError,
    RunResult,
    SshConfigSource,
    UnsupportedOsError,
    parse_apt_config,
    parse_listing,
    parse_os_release,
    parse_run_log,
    parse_simulation,
    sshd_directives,
)
from custom_components.homelab_sentinel.transport import (
    DEFAULT_MAX_OUTPUT,
    CommandConnectionError,
    CommandResult,
    CommandRunner,
    CommandTimeoutError,
    HostKey,
    HostKeyMismatchError,
    LocalRunner,
    SshRunner,
)
from tests.certbot.conftest import KeyPair, SshUser

from .conftest import UNATTENDED_UPGRADES, AptWorld, HostSshServer

# unattended-upgrades' log, as its `logging.basicConfig(format="%(asctime)s %(levelname)s
# %(message)s")` writes it, with the messages of its runs.
RUN_NOTHING = """\
2026-12-05 06:12:01,100 INFO Starting unattended upgrades script
2026-12-05 06:12:01,101 INFO Allowed origins are: o=Debian,l=Debian-Security
2026-12-05 06:12:03,512 INFO No packages found that can be upgraded unattended and no pending\
 auto-removals
"""
RUN_UPGRADED = """\
2026-12-06 06:12:01,100 INFO Starting unattended upgrades script
2026-12-06 06:12:01,101 INFO Allowed origins are: o=Debian,l=Debian-Security
2026-12-06 06:12:05,300 INFO Packages that will be upgraded: sentinel-sec
2026-12-06 06:12:05,301 INFO Writing dpkg log to /var/log/unattended-upgrades/\
unattended-upgrades-dpkg.log
2026-12-06 06:12:20,800 INFO All upgrades installed
"""
RUN_FAILED = """\
2026-12-07 06:12:01,100 INFO Starting unattended upgrades script
2026-12-07 06:12:02,000 ERROR Lock could not be acquired (another package manager running?)
"""


class RecordingRunner(CommandRunner):
    """A real runner that notes every command it runs."""

    def __init__(self, inner: CommandRunner) -> None:
        self.inner = inner
        self.commands: list[list[str]] = []

    @property
    def target(self) -> str:
        return self.inner.target

    async def run(
        self, argv: Sequence[str], *, time_limit: float, max_output: int = DEFAULT_MAX_OUTPUT
    ) -> CommandResult:
        self.commands.append(list(argv))
        return await self.inner.run(argv, time_limit=time_limit, max_output=max_output)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        async with self.inner.session():
            yield

    def programs(self) -> list[str]:
        """The program of each command, after `env LC_ALL=C`."""
        return [argv[2] if argv[0] == "env" else argv[0] for argv in self.commands]


async def off_loop[T](function: Callable[[], T]) -> T:
    """Blocking test work (files, processes) off the event loop."""
    return await asyncio.to_thread(function)


def write(path: Path, text: str, mtime: float | None = None) -> Callable[[], None]:
    """Write a file (and set its mtime) when called."""

    def writer() -> None:
        path.write_text(text)
        if mtime is not None:
            os.utime(path, (mtime, mtime))

    return writer


def local_client(world: AptWorld, **overrides: str) -> HostClient:
    return HostClient(LocalRunner(world.environment), world.paths(**overrides))


def ssh_runner(server: HostSshServer, key: KeyPair, user: str = "root") -> SshRunner:
    return SshRunner(
        "127.0.0.1",
        server.port,
        user,
        HostKey.parse(server.host_key.public),
        private_key=key.private,
    )


async def test_updates_and_security_split(apt_world: AptWorld) -> None:
    before = await off_loop(apt_world.snapshot)
    status = await local_client(apt_world).poll()
    assert [(u.name, u.installed, u.candidate, u.security) for u in status.updates] == [
        ("sentinel-sec", "1.0", "1.1", True),
        ("sentinel-tiny", "1.0", "2.0", False),
    ]
    assert [u.name for u in status.security_updates] == ["sentinel-sec"]
    assert status.os_name == "Debian GNU/Linux 13 (trixie)"
    assert status.kernel == os.uname().release
    assert status.booted_at is not None
    assert status.booted_at < datetime.now(UTC)
    partial = (apt_world.lists / "partial").stat().st_mtime
    assert status.lists_updated == datetime.fromtimestamp(partial, UTC)
    # The integration read apt's view; it changed neither the lists, nor dpkg, nor apt's cache.
    assert await off_loop(apt_world.snapshot) == before


async def test_apt_runs_again_only_when_its_inputs_change(apt_world: AptWorld) -> None:
    runner = RecordingRunner(LocalRunner(apt_world.environment))
    client = HostClient(runner, apt_world.paths())
    await client.poll()
    assert runner.programs().count("apt-get") == 1
    first = len(runner.commands)
    status = await client.poll()
    # Nothing changed: no apt simulation, no policy, no sshd -T refused before (root may run it).
    assert "apt-get" not in runner.programs()[first:]
    assert "apt-cache" not in runner.programs()[first:]
    assert len(runner.commands) - first <= 4
    assert len(status.updates) == 2
    # The newer version installed (as unattended-upgrades would): dpkg's status changed.
    await off_loop(lambda: apt_world.install(apt_world.debs["sentinel-sec", "1.1"]))
    status = await client.poll()
    assert [u.name for u in status.updates] == ["sentinel-tiny"]
    assert status.security_updates == ()
    assert runner.programs().count("apt-get") == 2


async def test_reboot_required(apt_world: AptWorld) -> None:
    client = local_client(apt_world)
    assert (await client.poll()).reboot_required is False
    run = apt_world.root / "run"
    await off_loop(write(run / "reboot-required", "*** System restart required ***\n"))
    await off_loop(
        write(run / "reboot-required.pkgs", "linux-image-6.12.0-1-amd64\nlibc6\nlibc6\n")
    )
    status = await client.poll()
    assert status.reboot_required is True
    assert status.reboot_packages == ("libc6", "linux-image-6.12.0-1-amd64")
    await off_loop((run / "reboot-required").unlink)
    await off_loop((run / "reboot-required.pkgs").unlink)
    status = await client.poll()
    assert (status.reboot_required, status.reboot_packages) == (False, ())


async def test_automatic_updates(apt_world: AptWorld) -> None:
    client = local_client(apt_world)
    automatic = (await client.poll()).automatic_updates
    assert (automatic.installed, automatic.enabled) == (False, False)
    await off_loop(lambda: apt_world.install(apt_world.debs[UNATTENDED_UPGRADES, "2.12"]))
    automatic = (await client.poll()).automatic_updates
    assert (automatic.installed, automatic.enabled) == (True, False)
    await off_loop(lambda: apt_world.set_periodic("1"))
    automatic = (await client.poll()).automatic_updates
    assert (automatic.installed, automatic.enabled) == (True, True)
    assert automatic.update_package_lists == "1"
    await off_loop(lambda: apt_world.set_periodic("0"))
    assert (await client.poll()).automatic_updates.enabled is False
    await off_loop(lambda: apt_world.set_periodic("1"))
    await off_loop(lambda: apt_world.remove(UNATTENDED_UPGRADES))
    automatic = (await client.poll()).automatic_updates
    assert (automatic.installed, automatic.enabled) == (False, False)


async def test_last_automatic_update(apt_world: AptWorld) -> None:
    client = local_client(apt_world)
    assert (await client.poll()).last_run is None
    await off_loop(write(apt_world.stamps / "upgrade-stamp", "", 1_700_000_000))
    last = (await client.poll()).last_run
    assert last is not None
    assert (last.finished, last.result) == (datetime.fromtimestamp(1_700_000_000, UTC), None)
    log = apt_world.log_dir / "unattended-upgrades.log"
    for text, result, mtime in (
        (RUN_NOTHING, RunResult.NOTHING_TO_DO, 1_800_000_000),
        (RUN_NOTHING + RUN_UPGRADED, RunResult.SUCCESS, 1_800_000_100),
        (RUN_NOTHING + RUN_UPGRADED + RUN_FAILED, RunResult.FAILED, 1_800_000_200),
    ):
        await off_loop(write(log, text, mtime))
        last = (await client.poll()).last_run
        assert last is not None
        assert (last.finished, last.result) == (datetime.fromtimestamp(mtime, UTC), result)


SSHD_CASES = [
    # (drop-in, extra lines of the main file, password login, root login)
    (
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n",
        "",
        False,
        "prohibit-password",
    ),
    ("", "", True, "prohibit-password"),
    (None, "PasswordAuthentication no\n", False, "prohibit-password"),
    ("PasswordAuthentication yes\n", "PasswordAuthentication no\n", True, "prohibit-password"),
    ("PermitRootLogin yes\nPasswordAuthentication no\n", "PermitRootLogin no\n", False, "yes"),
    (
        "PasswordAuthentication no\n",
        "PermitRootLogin without-password\n",
        False,
        "prohibit-password",
    ),
    (
        "PasswordAuthentication=no\n",
        "ChallengeResponseAuthentication yes\n",
        False,
        "prohibit-password",
    ),
]


@pytest.mark.parametrize(("drop_in", "main_extra", "password", "root"), SSHD_CASES)
async def test_sshd_settings_locally_both_ways(
    apt_world: AptWorld, drop_in: str | None, main_extra: str, password: bool, root: str
) -> None:
    """`sshd -T` (Home Assistant runs as root here) and the files' reading agree."""
    await off_loop(lambda: apt_world.write_sshd_config(drop_in, main_extra))
    effective = (await local_client(apt_world).poll()).ssh
    assert effective.source is SshConfigSource.SSHD_T
    read = (await local_client(apt_world, sshd="/nonexistent/sshd").poll()).ssh
    assert read.source is SshConfigSource.SSHD_CONFIG
    assert read.unreadable == ()
    for settings in (effective, read):
        assert (settings.accepts_passwords, settings.permit_root_login) == (password, root)


async def test_sshd_settings_over_ssh(
    apt_world: AptWorld, host_sshd: HostSshServer, client_key: KeyPair, ssh_user: SshUser
) -> None:
    """As root `sshd -T` answers; as a user without rights the files are read, same result."""
    await off_loop(
        lambda: apt_world.write_sshd_config("PasswordAuthentication yes\n", "PermitRootLogin yes\n")
    )
    root_status = await HostClient(ssh_runner(host_sshd, client_key), apt_world.paths()).poll()
    user_runner = RecordingRunner(ssh_runner(host_sshd, client_key, ssh_user.name))
    user_client = HostClient(user_runner, apt_world.paths())
    user_status = await user_client.poll()
    assert root_status.ssh.source is SshConfigSource.SSHD_T
    assert user_status.ssh.source is SshConfigSource.SSHD_CONFIG
    for status in (root_status, user_status):
        assert status.ssh.accepts_passwords is True
        assert status.ssh.permit_root_login == "yes"
        assert [u.name for u in status.security_updates] == ["sentinel-sec"]
        assert len(status.updates) == 2
    # sshd -T was refused once; it is not tried again.
    first = len(user_runner.commands)
    await user_client.poll()
    assert str(apt_world.paths().sshd) not in user_runner.programs()[first:]


async def test_unreadable_files_assume_sshd_defaults(
    apt_world: AptWorld, host_sshd: HostSshServer, client_key: KeyPair, ssh_user: SshUser
) -> None:
    def prepare() -> Path:
        config = apt_world.write_sshd_config("PasswordAuthentication no\n")
        (config.parent / "sshd_config.d" / "50-sentinel.conf").chmod(0o600)
        log = apt_world.log_dir / "unattended-upgrades.log"
        log.write_text(RUN_UPGRADED)
        log.chmod(0o600)
        (apt_world.stamps / "upgrade-stamp").touch()
        return config

    config = await off_loop(prepare)
    status = await HostClient(
        ssh_runner(host_sshd, client_key, ssh_user.name), apt_world.paths()
    ).poll()
    assert status.ssh.unreadable == (f"{config.parent / 'sshd_config.d'}/*.conf",)
    assert status.ssh.accepts_passwords is True
    # The log is root's: the success stamp tells when, not how.
    assert status.last_run is not None
    assert status.last_run.result is None
    await off_loop(lambda: config.chmod(0o600))
    status = await HostClient(
        ssh_runner(host_sshd, client_key, ssh_user.name), apt_world.paths()
    ).poll()
    assert status.ssh.unreadable == (str(config),)


async def test_no_ssh_server(apt_world: AptWorld) -> None:
    status = await local_client(
        apt_world, sshd="/nonexistent/sshd", sshd_config="/nonexistent/sshd_config"
    ).poll()
    assert status.ssh.source is SshConfigSource.NOT_INSTALLED
    assert status.ssh.accepts_passwords is False


def tool_directory(directory: Path) -> Path:
    """A PATH holding only what a system without apt has of the commands read (blocking)."""
    directory.mkdir()
    for tool in ("env", "grep", "find", "tail", "sh"):
        (directory / tool).symlink_to(f"/usr/bin/{tool}")
    directory.chmod(0o755)
    return directory


async def test_unsupported_os_locally(apt_world: AptWorld, tmp_path: Path) -> None:
    """A system without apt: only grep, find and tail on PATH, and Alpine's os-release."""
    tools = await off_loop(lambda: tool_directory(tmp_path / "bin"))
    await off_loop(
        write(
            apt_world.root / "os-release", 'NAME="Alpine Linux"\nPRETTY_NAME="Alpine Linux v3.20"\n'
        )
    )
    client = HostClient(LocalRunner({"PATH": str(tools)}), apt_world.paths())
    with pytest.raises(UnsupportedOsError) as caught:
        await client.poll()
    assert caught.value.os_name == "Alpine Linux v3.20"


async def test_unsupported_os_over_ssh(
    apt_world: AptWorld, own_host_sshd: HostSshServer, client_key: KeyPair, tmp_path: Path
) -> None:
    tools = await off_loop(lambda: tool_directory(apt_world.root / "bin"))
    await off_loop(write(apt_world.root / "os-release", 'NAME="Alpine Linux"\n'))
    own_host_sshd.environment = {**own_host_sshd.environment, "PATH": str(tools)}
    await off_loop(own_host_sshd.stop)
    await off_loop(own_host_sshd.start)
    with pytest.raises(UnsupportedOsError) as caught:
        await HostClient(ssh_runner(own_host_sshd, client_key), apt_world.paths()).poll()
    assert caught.value.os_name == "Alpine Linux"


async def test_host_key_change_dropped_connection_and_recovery(
    apt_world: AptWorld, own_host_sshd: HostSshServer, client_key: KeyPair
) -> None:
    client = HostClient(ssh_runner(own_host_sshd, client_key), apt_world.paths())
    assert len((await client.poll()).updates) == 2
    await off_loop(own_host_sshd.stop)
    with pytest.raises(CommandConnectionError):
        await client.poll()
    await off_loop(own_host_sshd.start)
    assert len((await client.poll()).updates) == 2
    await off_loop(own_host_sshd.restart_with_new_host_key)
    with pytest.raises(HostKeyMismatchError):
        await client.poll()


async def test_a_command_that_hangs_is_stopped(apt_world: AptWorld) -> None:
    """os-release is a FIFO nobody writes to: grep waits forever, the time limit stops it."""
    fifo = apt_world.root / "run" / "os-release-fifo"
    await off_loop(lambda: os.mkfifo(fifo))
    client = HostClient(
        LocalRunner(apt_world.environment), apt_world.paths(os_release=str(fifo)), time_limit=1
    )
    with pytest.raises(CommandTimeoutError):
        await client.poll()


async def test_a_command_that_hangs_over_ssh_is_stopped(
    apt_world: AptWorld, host_sshd: HostSshServer, client_key: KeyPair
) -> None:
    fifo = apt_world.root / "run" / "os-release-fifo"
    await off_loop(lambda: os.mkfifo(fifo))
    await off_loop(lambda: fifo.chmod(0o644))
    runner = ssh_runner(host_sshd, client_key)
    client = HostClient(runner, apt_world.paths(os_release=str(fifo)), time_limit=1)
    with pytest.raises(CommandTimeoutError):
        await client.poll()
    # The session ended with the poll; the next one connects afresh.
    assert len((await HostClient(runner, apt_world.paths()).poll()).updates) == 2


async def test_apt_failures_are_errors(apt_world: AptWorld) -> None:
    await off_loop(write(apt_world.root / "etc" / "sources.list", "this is not a sources.list\n"))
    with pytest.raises(HostError):
        await local_client(apt_world).poll()
    await off_loop(write(apt_world.apt_config, "this is { not apt configuration\n"))
    with pytest.raises(HostError):
        await local_client(apt_world).poll()


def test_parsers() -> None:
    assert parse_os_release(['PRETTY_NAME="Debian \\"x\\""', "junk", 'BAD="unclosed']) == {
        "PRETTY_NAME": 'Debian "x"'
    }
    updates = parse_simulation(
        "Inst libssl3 [3.0.15-1~deb12u1] (3.0.16-1~deb12u1 Debian:12.10/stable,"
        " Debian-Security:12/stable-security [amd64]) []\n"
        "Inst openssh-client [1:9.2p1-2] (1:9.2p1-2+deb12u5 Ubuntu:22.04/jammy-security [arm64])\n"
        "Inst newpkg (1.0 Debian:12.10/stable [all])\n"
        "Conf libssl3 (3.0.16-1~deb12u1 Debian:12.10/stable [amd64])\n"
    )
    assert [(u.name, u.security) for u in updates] == [
        ("libssl3", True),
        ("openssh-client", True),
    ]
    with pytest.raises(HostError):
        parse_apt_config("nothing\n")
    assert sshd_directives("   # a comment") is None
    assert sshd_directives('Banner "unclosed') is None
    assert sshd_directives("PermitRootLogin=yes") == ("permitrootlogin", ["yes"])
    # sshd takes tabs, and white space around one "=", as separators too.
    assert sshd_directives("PasswordAuthentication\tno") == ("passwordauthentication", ["no"])
    assert sshd_directives("Match\tUser bob") == ("match", ["User", "bob"])
    assert sshd_directives("PermitRootLogin = no") == ("permitrootlogin", ["no"])


async def test_includes_followed_as_sshd_does(apt_world: AptWorld) -> None:
    """Relative and plain Includes, a wildcard directory, a bare keyword, an Include loop."""

    def prepare() -> Path:
        ssh = apt_world.root / "ssh"
        (ssh / "relative.conf").write_text("PermitRootLogin yes\nPasswordAuthentication\n")
        apt_world.write_sshd_config(
            "PasswordAuthentication no\n", f"Include relative.conf {ssh / '*'}/x.conf\n"
        )
        (ssh / "loop.conf").write_text(f"Include {ssh / 'loop.conf'}\n")
        return ssh

    ssh = await off_loop(prepare)
    client = local_client(apt_world, sshd="/nonexistent/sshd")
    status = await client.poll()
    # The relative Include is relative to the configuration's directory, as /etc/ssh is.
    assert status.ssh.permit_root_login == "yes"
    assert status.ssh.accepts_passwords is False
    assert status.ssh.unreadable == (f"{ssh / '*'}/x.conf",)
    # Nothing changed: the log is not read again, booted_at is kept for the boot.
    assert (await client.poll()).booted_at == status.booted_at
    await off_loop(lambda: apt_world.write_sshd_config(None, f"Include {ssh / 'loop.conf'}\n"))
    with pytest.raises(HostError):
        await client.poll()


async def test_unusual_proc_files(apt_world: AptWorld) -> None:
    """No boot ID and an unreadable uptime: no boot time, the rest is read."""
    await off_loop(write(apt_world.root / "run" / "uptime", "garbage\n"))
    status = await local_client(
        apt_world,
        uptime=str(apt_world.root / "run" / "uptime"),
        boot_id=str(apt_world.root / "run" / "no-boot-id"),
    ).poll()
    assert status.booted_at is None
    status = await local_client(
        apt_world, boot_id=str(apt_world.root / "run" / "no-boot-id")
    ).poll()
    assert status.booted_at is not None


def test_log_and_listing_parsers() -> None:
    assert parse_run_log("garbage\n") is None
    assert parse_run_log(RUN_NOTHING.replace("No packages found", "Keine Pakete")) is None
    listing = parse_listing("1.5\t/a\nnot a line\nx\t/b\n")
    assert dict(listing.mtimes) == {"/a": 1.5}
    assert sshd_directives("PermitRootLogin=yes # root") == ("permitrootlogin", ["yes"])
    assert sshd_directives("PasswordAuthentication  =  no") == ("passwordauthentication", ["no"])
