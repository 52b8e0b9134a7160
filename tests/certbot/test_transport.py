"""The command layer: local processes and a real OpenSSH server, pinned host keys, limits."""

from __future__ import annotations

import asyncio
from pathlib import Path
import time

import pytest

from custom_components.homelab_sentinel.transport import (
    CommandAuthError,
    CommandConnectionError,
    CommandNotFoundError,
    CommandTimeoutError,
    HostKey,
    HostKeyMismatchError,
    InvalidCommandError,
    InvalidKeyError,
    LocalRunner,
    OutputTooLargeError,
    SshRunner,
    SudoRefusedError,
    async_fetch_host_key,
    load_private_key,
)

from .conftest import KeyPair, SshServer, SshUser, free_port, make_key_pair, run_tool

INJECTION = "$(touch {marker}); `touch {marker}` ; touch {marker} | cat"


def _root(server: SshServer, key: KeyPair, *, use_sudo: bool = False) -> SshRunner:
    return SshRunner(
        "127.0.0.1",
        server.port,
        "root",
        HostKey.parse(server.host_key.public),
        private_key=key.private,
        use_sudo=use_sudo,
    )


def _user(
    server: SshServer,
    user: SshUser,
    *,
    password: str | None = None,
    private_key: str | None = None,
    use_sudo: bool = False,
) -> SshRunner:
    return SshRunner(
        "127.0.0.1",
        server.port,
        user.name,
        HostKey.parse(server.host_key.public),
        password=user.password if password is None else password,
        private_key=private_key,
        use_sudo=use_sudo,
    )


async def _gone(pid: int) -> bool:
    """Whether a process ended (or is a zombie waiting to be reaped), waiting up to 3 s."""
    for _ in range(60):
        try:
            stat = await asyncio.to_thread(Path(f"/proc/{pid}/stat").read_text)
        except FileNotFoundError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return True
        await asyncio.sleep(0.05)
    return False


async def test_local_runs_argument_lists_without_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    hostile = INJECTION.format(marker=marker)
    result = await LocalRunner().run(["printf", "%s|%s", "a b", hostile], time_limit=10)
    assert result.exit_status == 0
    assert result.stdout == f"a b|{hostile}"
    assert not marker.exists()


async def test_local_exit_status_and_streams() -> None:
    result = await LocalRunner().run(["sh", "-c", "echo out; echo err >&2; exit 3"], time_limit=10)
    assert (result.exit_status, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert LocalRunner().target == "local"


async def test_local_missing_program() -> None:
    with pytest.raises(CommandNotFoundError):
        await LocalRunner().run(["/nonexistent/certbot", "certificates"], time_limit=10)


async def test_local_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(CommandTimeoutError):
        await LocalRunner().run(
            ["sh", "-c", f"sleep 30 & echo $! > {pid_file}; wait"], time_limit=0.5
        )
    assert time.monotonic() - started < 5
    child = int(await asyncio.to_thread(pid_file.read_text))
    assert await _gone(child)


async def test_local_output_is_capped() -> None:
    with pytest.raises(OutputTooLargeError):
        await LocalRunner().run(
            ["head", "-c", "3000000", "/dev/zero"], time_limit=10, max_output=1024 * 1024
        )
    # Both streams count against the same budget.
    with pytest.raises(OutputTooLargeError):
        await LocalRunner().run(
            ["sh", "-c", "head -c 600 /dev/zero; head -c 600 /dev/zero >&2"],
            time_limit=10,
            max_output=1000,
        )


@pytest.mark.parametrize(
    "argv", [[], [""], ["-rf", "/"], ["certbot", "a\nb"], ["certbot", "nul\x00"], ["x", "\x1b["]]
)
async def test_arguments_are_refused_before_anything_runs(
    argv: list[str], sshd: SshServer, client_key: KeyPair
) -> None:
    with pytest.raises(InvalidCommandError):
        await LocalRunner().run(argv, time_limit=10)
    with pytest.raises(InvalidCommandError):
        await _root(sshd, client_key).run(argv, time_limit=10)


async def test_fetch_host_key(sshd: SshServer) -> None:
    presented = await async_fetch_host_key("127.0.0.1", sshd.port)
    expected = HostKey.parse(sshd.host_key.public)
    assert presented == expected
    assert presented.algorithm == "ssh-ed25519"
    listed = await asyncio.to_thread(
        lambda: run_tool("ssh-keygen", "-lf", "-", input_text=sshd.host_key.public)
    )
    assert listed.split()[1] == presented.fingerprint


async def test_ssh_quotes_every_argument(
    sshd: SshServer, client_key: KeyPair, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    hostile = INJECTION.format(marker=marker)
    runner = _root(sshd, client_key)
    result = await runner.run(["printf", "%s|%s", "a b", hostile], time_limit=20)
    assert result.exit_status == 0
    assert result.stdout == f"a b|{hostile}"
    assert not marker.exists()
    assert runner.target == f"root@127.0.0.1:{sshd.port}"


async def test_ssh_exit_status_and_streams(sshd: SshServer, client_key: KeyPair) -> None:
    result = await _root(sshd, client_key).run(
        ["sh", "-c", "echo out; echo err >&2; exit 3"], time_limit=20
    )
    assert (result.exit_status, result.stdout, result.stderr) == (3, "out\n", "err\n")


async def test_ssh_password_and_key_login(
    sshd: SshServer, client_key: KeyPair, ssh_user: SshUser
) -> None:
    by_password = await _user(sshd, ssh_user).run(["id", "-un"], time_limit=20)
    assert by_password.stdout.strip() == ssh_user.name
    by_key = await _user(sshd, ssh_user, password="", private_key=client_key.private).run(
        ["id", "-un"], time_limit=20
    )
    assert by_key.stdout.strip() == ssh_user.name


async def test_ssh_rejected_credentials(sshd: SshServer, ssh_user: SshUser, tmp_path: Path) -> None:
    with pytest.raises(CommandAuthError):
        await _user(sshd, ssh_user, password="wrong").run(["true"], time_limit=20)
    stranger = await asyncio.to_thread(make_key_pair, tmp_path, "stranger")
    with pytest.raises(CommandAuthError):
        await _root(sshd, stranger).run(["true"], time_limit=20)


async def test_changed_host_key_is_refused_before_logging_in(
    own_sshd: SshServer, ssh_user: SshUser
) -> None:
    runner = _user(own_sshd, ssh_user)
    assert (await runner.run(["true"], time_limit=20)).exit_status == 0
    pinned = runner.host_key
    await asyncio.to_thread(own_sshd.restart_with_new_host_key)
    with pytest.raises(HostKeyMismatchError) as caught:
        await runner.run(["true"], time_limit=20)
    assert caught.value.expected == pinned.fingerprint
    assert caught.value.presented == HostKey.parse(own_sshd.host_key.public).fingerprint
    assert caught.value.presented != caught.value.expected
    log = await asyncio.to_thread((own_sshd.directory / "sshd.log").read_text)
    # One login before the key changed, none after: the password was never sent again.
    assert log.count("Accepted password") == 1
    assert "Failed password" not in log


async def test_sudo_refused_for_a_user_without_rights(sshd: SshServer, ssh_user: SshUser) -> None:
    with pytest.raises(SudoRefusedError, match="password is required"):
        await _user(sshd, ssh_user, use_sudo=True).run(["id", "-u"], time_limit=20)


async def test_sudo_runs_for_root(sshd: SshServer, client_key: KeyPair) -> None:
    result = await _root(sshd, client_key, use_sudo=True).run(["id", "-u"], time_limit=20)
    assert result.stdout.strip() == "0"
    # A failing command is a result, not a sudo refusal.
    failed = await _root(sshd, client_key, use_sudo=True).run(
        ["sh", "-c", "echo 'certbot: failed' >&2; exit 1"], time_limit=20
    )
    assert failed.exit_status == 1


async def test_ssh_command_not_found(sshd: SshServer, client_key: KeyPair) -> None:
    with pytest.raises(CommandNotFoundError):
        await _root(sshd, client_key).run(["no-such-certbot"], time_limit=20)
    with pytest.raises(CommandNotFoundError):
        await _root(sshd, client_key, use_sudo=True).run(["no-such-certbot"], time_limit=20)


async def test_ssh_timeout_stops_the_remote_command(
    sshd: SshServer, client_key: KeyPair, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(CommandTimeoutError):
        await _root(sshd, client_key).run(
            ["sh", "-c", f"echo $$ > {pid_file}; exec sleep 30"], time_limit=1.5
        )
    assert time.monotonic() - started < 6
    remote = int(await asyncio.to_thread(pid_file.read_text))
    assert await _gone(remote)


async def test_ssh_output_is_capped(sshd: SshServer, client_key: KeyPair) -> None:
    with pytest.raises(OutputTooLargeError):
        await _root(sshd, client_key).run(
            ["head", "-c", "3000000", "/dev/zero"], time_limit=20, max_output=1024 * 1024
        )


async def test_unreachable_server(sshd: SshServer, client_key: KeyPair) -> None:
    port = free_port()
    with pytest.raises(CommandConnectionError):
        await async_fetch_host_key("127.0.0.1", port)
    runner = SshRunner(
        "127.0.0.1",
        port,
        "root",
        HostKey.parse(sshd.host_key.public),
        private_key=client_key.private,
    )
    with pytest.raises(CommandConnectionError):
        await runner.run(["true"], time_limit=20)


async def test_silent_server_times_out(client_key: KeyPair, sshd: SshServer) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(CommandTimeoutError):
            await async_fetch_host_key("127.0.0.1", port, connect_timeout=0.3)
        runner = SshRunner(
            "127.0.0.1",
            port,
            "root",
            HostKey.parse(sshd.host_key.public),
            private_key=client_key.private,
            connect_timeout=0.3,
        )
        with pytest.raises(CommandTimeoutError):
            await runner.run(["true"], time_limit=20)
    finally:
        server.close()
        server.close_clients()
        await server.wait_closed()


async def test_keys_and_secrets(sshd: SshServer, client_key: KeyPair, tmp_path: Path) -> None:
    with pytest.raises(InvalidKeyError):
        HostKey.parse("ssh-ed25519 not-base64")
    with pytest.raises(InvalidKeyError):
        load_private_key("-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n")
    await asyncio.to_thread(
        lambda: run_tool("ssh-keygen", "-q", "-t", "ed25519", "-N", "pw", "-f", str(tmp_path / "e"))
    )
    encrypted = await asyncio.to_thread((tmp_path / "e").read_text)
    with pytest.raises(InvalidKeyError) as caught:
        load_private_key(encrypted)
    assert encrypted.splitlines()[1] not in str(caught.value)
    host_key = HostKey.parse(sshd.host_key.public)
    with pytest.raises(InvalidKeyError):
        SshRunner("127.0.0.1", sshd.port, "root", host_key)
    runner = SshRunner(
        "127.0.0.1", sshd.port, "root", host_key, private_key=client_key.private, password="pw1"
    )
    assert "pw1" not in repr(runner)
    assert client_key.private.splitlines()[1] not in repr(runner)


async def test_ssh_connection_lost_while_running(sshd: SshServer, client_key: KeyPair) -> None:
    # The remote shell kills the sshd process that serves its own connection.
    with pytest.raises(CommandConnectionError):
        await _root(sshd, client_key).run(["sh", "-c", "kill -9 $PPID; sleep 5"], time_limit=20)
