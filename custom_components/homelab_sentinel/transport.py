"""Run a command on this machine or on another one over SSH, and nothing more.

Commands are argument lists, never shell strings: locally they are executed directly; over SSH,
where the remote shell interprets the command line, every argument is validated and quoted.
Every run has a timeout and a cap on the output it may produce. SSH host keys are pinned: a
server that presents any other key is refused before a credential is sent.

This module has no Home Assistant imports.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
import contextlib
from dataclasses import dataclass
import os
import re
import shlex
import signal
from typing import cast

import asyncssh

DEFAULT_MAX_OUTPUT = 1024 * 1024
DEFAULT_CONNECT_TIMEOUT = 15.0
_CHUNK = 64 * 1024
# Exit status of a POSIX shell that did not find the command.
_NOT_FOUND = 127
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class CommandError(Exception):
    """Base class for everything this module raises."""


class InvalidCommandError(CommandError, ValueError):
    """An argument was refused before anything ran."""


class InvalidKeyError(CommandError, ValueError):
    """A private or public SSH key cannot be read."""


class CommandConnectionError(CommandError):
    """The SSH server could not be reached, or the connection broke."""


class CommandAuthError(CommandError):
    """The SSH server rejected the credentials."""


class HostKeyMismatchError(CommandError):
    """The SSH server presented another host key than the pinned one."""

    def __init__(self, target: str, expected: str, presented: str | None) -> None:
        """Name both fingerprints; presented is None when the server offered no usable key."""
        super().__init__(f"{target} presented host key {presented}, expected {expected}")
        self.expected = expected
        self.presented = presented


class CommandTimeoutError(CommandError):
    """The command, or the connection for it, did not finish in time."""


class SudoRefusedError(CommandError):
    """sudo -n refused to run the command (no rights, or it wants a password)."""


class OutputTooLargeError(CommandError):
    """The command wrote more than it may; it was stopped."""


class CommandNotFoundError(CommandError):
    """The command does not exist or may not be executed."""


@dataclass(frozen=True, slots=True)
class CommandResult:
    """How a command ended and what it wrote."""

    exit_status: int
    stdout: str
    stderr: str


@dataclass(frozen=True, slots=True)
class HostKey:
    """An SSH server's public host key, as OpenSSH writes it: ``<algorithm> <base64>``."""

    openssh: str

    @classmethod
    def parse(cls, text: str) -> HostKey:
        """Read a public key line (a comment after the key is dropped)."""
        try:
            key = asyncssh.import_public_key(text.strip())
        except (asyncssh.KeyImportError, ValueError) as err:
            raise InvalidKeyError("not an SSH public key") from err
        return cls.from_key(key)

    @classmethod
    def from_key(cls, key: asyncssh.SSHKey) -> HostKey:
        """Wrap a key asyncssh has decoded."""
        algorithm, data = key.export_public_key("openssh").decode("ascii").split()[:2]
        return cls(f"{algorithm} {data}")

    @property
    def key(self) -> asyncssh.SSHKey:
        """The key as asyncssh uses it."""
        return asyncssh.import_public_key(self.openssh)

    @property
    def algorithm(self) -> str:
        """The key's type, e.g. ``ssh-ed25519``."""
        return self.openssh.split(" ", 1)[0]

    @property
    def fingerprint(self) -> str:
        """The SHA256 fingerprint that ``ssh-keygen -lf`` shows."""
        return str(self.key.get_fingerprint("sha256"))


def load_private_key(text: str) -> asyncssh.SSHKey:
    """Read an unencrypted private key (OpenSSH or PEM); the text never appears in errors."""
    try:
        return asyncssh.import_private_key(text.strip() + "\n")
    except asyncssh.KeyImportError, asyncssh.KeyEncryptionError, ValueError:
        raise InvalidKeyError("not an unencrypted SSH private key") from None


def check_arguments(argv: Sequence[str]) -> list[str]:
    """Refuse argument lists a command line could misread: control characters, empty names.

    The first argument, the program, must not be empty or look like an option.
    """
    arguments = list(argv)
    if not arguments or not arguments[0] or arguments[0].startswith("-"):
        raise InvalidCommandError("no program to run")
    for argument in arguments:
        if not isinstance(argument, str) or _CONTROL_CHARACTERS.search(argument):
            raise InvalidCommandError("an argument holds a control character")
    return arguments


class _OutputBudget:
    """How many more bytes a command may write, over all its streams."""

    def __init__(self, limit: int) -> None:
        self.remaining = limit

    def take(self, size: int) -> None:
        self.remaining -= size
        if self.remaining < 0:
            raise OutputTooLargeError("the command wrote too much output")


async def _pump(
    read: Callable[[int], Awaitable[bytes]], sink: bytearray, budget: _OutputBudget
) -> None:
    while chunk := await read(_CHUNK):
        budget.take(len(chunk))
        sink.extend(chunk)


async def _collect(
    reads: Sequence[Callable[[int], Awaitable[bytes]]], limit: int
) -> list[bytearray]:
    """Read every stream to its end, within one output budget."""
    budget = _OutputBudget(limit)
    sinks = [bytearray() for _ in reads]
    tasks = [
        asyncio.ensure_future(_pump(read, sink, budget))
        for read, sink in zip(reads, sinks, strict=True)
    ]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return sinks


def _text(data: bytes | bytearray) -> str:
    return data.decode("utf-8", errors="replace")


class CommandRunner(ABC):
    """Runs argument lists somewhere, each with a timeout and an output cap."""

    @property
    @abstractmethod
    def target(self) -> str:
        """Where commands run, for messages: ``local`` or ``user@host:port``."""

    @abstractmethod
    async def run(
        self, argv: Sequence[str], *, time_limit: float, max_output: int = DEFAULT_MAX_OUTPUT
    ) -> CommandResult:
        """Run a command to its end; a non-zero exit status is a result, not an error."""

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """Run the commands of one poll inside; over SSH they share one connection."""
        yield


class LocalRunner(CommandRunner):
    """Runs commands on this machine, as the user Home Assistant runs as, without a shell."""

    def __init__(self, environment: Mapping[str, str] | None = None) -> None:
        """Commands inherit Home Assistant's environment, with environment's variables set."""
        self.environment = dict(environment or {})

    @property
    def target(self) -> str:
        """Commands run here."""
        return "local"

    async def run(
        self, argv: Sequence[str], *, time_limit: float, max_output: int = DEFAULT_MAX_OUTPUT
    ) -> CommandResult:
        """Execute the program directly; on timeout or too much output, kill its process group."""
        arguments = check_arguments(argv)
        try:
            process = await asyncio.create_subprocess_exec(
                *arguments,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                env={**os.environ, **self.environment} if self.environment else None,
            )
        except (FileNotFoundError, PermissionError, NotADirectoryError) as err:
            raise CommandNotFoundError(f"{arguments[0]} cannot be run here") from err
        streams = cast("list[asyncio.StreamReader]", [process.stdout, process.stderr])
        try:
            async with asyncio.timeout(time_limit):
                stdout, stderr = await _collect([stream.read for stream in streams], max_output)
                status = await process.wait()
        except TimeoutError as err:
            await self._kill(process)
            raise CommandTimeoutError(f"{arguments[0]} did not finish in {time_limit:g} s") from err
        except BaseException:
            await self._kill(process)
            raise
        return CommandResult(status, _text(stdout), _text(stderr))

    @staticmethod
    async def _kill(process: asyncio.subprocess.Process) -> None:
        """Stop the command and everything it started (its own process group)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        await asyncio.shield(process.wait())


class _PinningClient(asyncssh.SSHClient):
    """Notes the host key a server presents when it is not the pinned one, and refuses it."""

    def __init__(self, presented: list[asyncssh.SSHKey]) -> None:
        self._presented = presented

    def validate_host_public_key(
        self, host: str, addr: tuple[str, int] | str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        self._presented.append(key)
        return False


def _base_options(**options: object) -> asyncssh.SSHClientConnectionOptions:
    """Options that read nothing from ~/.ssh and use no agent; blocking, run in a thread."""
    return asyncssh.SSHClientConnectionOptions(
        config=None,
        agent_path=None,
        agent_identities=None,
        agent_forwarding=False,
        x509_trusted_certs=None,
        x509_trusted_cert_paths=None,
        gss_auth=False,
        gss_kex=False,
        host_based_auth=False,
        **options,
    )


async def async_fetch_host_key(
    host: str, port: int, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
) -> HostKey:
    """The host key an SSH server presents, read without authenticating."""
    target = f"{host}:{port}"
    options = await asyncio.to_thread(_base_options, connect_timeout=connect_timeout)
    try:
        async with asyncio.timeout(connect_timeout):
            key = await asyncssh.get_server_host_key(host, port, config=None, options=options)
    except TimeoutError as err:
        raise CommandTimeoutError(f"{target} did not answer in time") from err
    except (OSError, asyncssh.Error, UnicodeError, ValueError) as err:
        # A name IDNA cannot encode fails in the resolver with UnicodeError.
        raise CommandConnectionError(f"cannot connect to {target}: {err}") from err
    # Only GSS key exchange goes without a host key, and it is turned off.
    return HostKey.from_key(cast("asyncssh.SSHKey", key))


class SshRunner(CommandRunner):
    """Runs commands over SSH on a server whose host key is pinned.

    Authenticates with a private key or a password. With use_sudo, commands run through
    ``sudo -n``, which fails rather than asking for a password.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        host_key: HostKey,
        *,
        private_key: str | None = None,
        password: str | None = None,
        use_sudo: bool = False,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        """Remember where and how to connect; a bad private key raises InvalidKeyError now."""
        if not private_key and not password:
            raise InvalidKeyError("a private key or a password is needed")
        # The connection of the session in progress, shared by its commands.
        self._session: asyncssh.SSHClientConnection | None = None
        self.host = host
        self.port = port
        self.username = username
        self.host_key = host_key
        self.use_sudo = use_sudo
        self.connect_timeout = connect_timeout
        self._keypair = load_private_key(private_key) if private_key else None
        self._password = password or None

    def __repr__(self) -> str:
        """Where it connects to; never the credentials."""
        return f"SshRunner({self.target!r}, sudo={self.use_sudo})"

    @property
    def target(self) -> str:
        """The account and server commands run on."""
        return f"{self.username}@{self.host}:{self.port}"

    def _options(self) -> asyncssh.SSHClientConnectionOptions:
        return _base_options(
            username=self.username,
            known_hosts=([self.host_key.key], [], []),
            client_keys=[self._keypair] if self._keypair else None,
            password=self._password,
            public_key_auth=self._keypair is not None,
            password_auth=self._password is not None,
            kbdint_auth=self._password is not None,
            connect_timeout=self.connect_timeout,
            login_timeout=self.connect_timeout,
        )

    async def _connect(self) -> asyncssh.SSHClientConnection:
        presented: list[asyncssh.SSHKey] = []
        options = await asyncio.to_thread(self._options)
        try:
            async with asyncio.timeout(self.connect_timeout):
                connection, _ = await asyncssh.create_connection(
                    lambda: _PinningClient(presented), self.host, self.port, options=options
                )
        except asyncssh.HostKeyNotVerifiable:
            raise HostKeyMismatchError(
                self.target,
                self.host_key.fingerprint,
                HostKey.from_key(presented[-1]).fingerprint if presented else None,
            ) from None
        except asyncssh.PermissionDenied:
            raise CommandAuthError(f"{self.target} rejected the credentials") from None
        except TimeoutError as err:
            raise CommandTimeoutError(f"{self.target} did not answer in time") from err
        except (OSError, asyncssh.Error, UnicodeError, ValueError) as err:
            raise CommandConnectionError(f"cannot connect to {self.target}: {err}") from err
        return connection

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """Connect once; the commands run inside share the connection, closed at the end."""
        if self._session is not None:
            yield
            return
        connection = await self._connect()
        self._session = connection
        try:
            async with connection:
                yield
        finally:
            self._session = None

    async def run(
        self, argv: Sequence[str], *, time_limit: float, max_output: int = DEFAULT_MAX_OUTPUT
    ) -> CommandResult:
        """Run the quoted command line; on timeout or too much output, signal it and hang up.

        Inside a session the command runs on the session's connection, else on its own.
        """
        arguments = check_arguments(argv)
        if self.use_sudo:
            arguments = ["sudo", "-n", "--", *arguments]
        command = shlex.join(arguments)
        try:
            async with asyncio.timeout(time_limit):
                if self._session is not None:
                    result = await self._execute(self._session, command, max_output)
                else:
                    async with await self._connect() as connection:
                        result = await self._execute(connection, command, max_output)
        except TimeoutError as err:
            raise CommandTimeoutError(
                f"{arguments[0]} on {self.target} did not finish in {time_limit:g} s"
            ) from err
        except (OSError, asyncssh.Error) as err:
            raise CommandConnectionError(f"lost the connection to {self.target}: {err}") from err
        self._check(result)
        return result

    @staticmethod
    async def _execute(
        connection: asyncssh.SSHClientConnection, command: str, max_output: int
    ) -> CommandResult:
        process = await connection.create_process(command, encoding=None, stdin=asyncssh.DEVNULL)
        try:
            stdout, stderr = await _collect([process.stdout.read, process.stderr.read], max_output)
            await process.wait_closed()
        except BaseException:
            with contextlib.suppress(OSError, asyncssh.Error):
                process.send_signal("KILL")
            raise
        exit_status = process.exit_status
        return CommandResult(
            exit_status if exit_status is not None else -1, _text(stdout), _text(stderr)
        )

    def _check(self, result: CommandResult) -> None:
        """Turn what the remote shell and sudo say about the command into errors."""
        if result.exit_status == _NOT_FOUND:
            raise CommandNotFoundError(f"the command was not found on {self.target}")
        if not self.use_sudo or result.exit_status != 1:
            return
        complaints = [line for line in result.stderr.splitlines() if line.startswith("sudo: ")]
        if any("command not found" in line for line in complaints):
            raise CommandNotFoundError(f"sudo found no such command on {self.target}")
        if complaints:
            raise SudoRefusedError(f"{self.target}: {complaints[0]}")
