"""A Linux host's updates, reboot flag, automatic updates and SSH server settings, read-only.

Everything is read through the command layer (`transport`), the same way on this machine and
over SSH, with a handful of read-only commands per poll (see `docs/host.md`, which lists them):
nothing here refreshes the package lists, takes apt's or dpkg's lock, writes a file or needs root.
The expensive apt simulation runs again only when the package lists or dpkg's status changed.

This module has no Home Assistant imports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
import fnmatch
import posixpath
import re
import shlex
from typing import Final

from ..transport import CommandNotFoundError, CommandResult, CommandRunner

# apt's simulation reads every package list: on a Raspberry Pi this takes a few seconds.
APT_TIME_LIMIT: Final = 120.0
TIME_LIMIT: Final = 30.0
# unattended-upgrades' own log: only its tail is read, where the last run is.
LOG_TAIL_BYTES: Final = 256 * 1024
MAX_LISTED_PACKAGES: Final = 50
# Include depth sshd itself allows.
_MAX_INCLUDE_DEPTH: Final = 16
_DEFAULT_LOG_DIR: Final = "/var/log/unattended-upgrades"
_LOG_NAME: Final = "unattended-upgrades.log"
# Touched by apt.systemd.daily after each successful unattended-upgrade run.
_UPGRADE_STAMP: Final = "upgrade-stamp"
# apt's answers must not depend on the host's language; the package cache is never written.
_APT_PREFIX: Final = ("env", "LC_ALL=C")
# What env exits with when the command it should run does not exist.
_COMMAND_NOT_FOUND: Final = 127
_NO_CACHE_FILES: Final = ("-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=")
_APT_CONFIG_LINE = re.compile(r'^(?P<key>[^\s"]+) "(?P<value>(?:[^"\\]|\\.)*)";$')
_INST_LINE = re.compile(
    r"^Inst (?P<name>\S+) \[(?P<installed>[^\]]+)\] \((?P<candidate>\S+) (?P<origins>.*)\)"
)
_ARCHITECTURE = re.compile(r" \[[^\]]+\]$")
_INSTALLED = re.compile(r"^\s*Installed: (?P<version>\S+)", re.MULTILINE)
_LOG_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (?P<level>[A-Z]+) (?P<message>.*)$")
_GLOB_CHARACTERS = frozenset("*?[")


class HostError(Exception):
    """The host answered, but not as a Debian-like system does."""

    def __init__(self, message: str, detail: str = "") -> None:
        """Describe the problem; detail is what the command said, shown to the user."""
        super().__init__(message)
        self.detail = detail or message


class UnsupportedOsError(HostError):
    """The host has no apt: it is not Debian, Ubuntu or Raspberry Pi OS."""

    def __init__(self, os_name: str) -> None:
        """Name the system os-release describes."""
        super().__init__(f"{os_name} has no apt", os_name)
        self.os_name = os_name


@dataclass(frozen=True, slots=True)
class HostPaths:
    """Where the host keeps what is read; the defaults are those of every Debian-like system."""

    os_release: str = "/etc/os-release"
    os_release_fallback: str = "/usr/lib/os-release"
    reboot_required: str = "/run/reboot-required"
    reboot_required_packages: str = "/run/reboot-required.pkgs"
    sshd: str = "/usr/sbin/sshd"
    sshd_config: str = "/etc/ssh/sshd_config"
    kernel_release: str = "/proc/sys/kernel/osrelease"
    uptime: str = "/proc/uptime"
    boot_id: str = "/proc/sys/kernel/random/boot_id"


class RunResult(StrEnum):
    """How unattended-upgrades' last run ended."""

    SUCCESS = "success"
    NOTHING_TO_DO = "nothing_to_do"
    FAILED = "failed"


class SshConfigSource(StrEnum):
    """Where the SSH server's settings were read."""

    SSHD_T = "sshd -T"
    SSHD_CONFIG = "sshd_config"
    NOT_INSTALLED = "not_installed"


@dataclass(frozen=True, slots=True)
class PendingUpdate:
    """One package with an upgrade available."""

    name: str
    installed: str
    candidate: str
    security: bool


@dataclass(frozen=True, slots=True)
class SshSettings:
    """The SSH server's global settings that decide how one may log in."""

    password_authentication: bool
    kbd_interactive_authentication: bool
    permit_root_login: str
    source: SshConfigSource
    # Files that could not be read while following the configuration's Includes.
    unreadable: tuple[str, ...] = ()

    @property
    def accepts_passwords(self) -> bool:
        """Whether the server lets a password (or a keyboard-interactive prompt) in."""
        return self.password_authentication or self.kbd_interactive_authentication


@dataclass(frozen=True, slots=True)
class AutomaticUpdates:
    """Whether unattended-upgrades is installed and APT's periodic settings run it."""

    installed: bool
    enable: str
    unattended_upgrade: str
    update_package_lists: str

    @property
    def enabled(self) -> bool:
        """Whether apt's daily job runs unattended-upgrades."""
        return (
            self.installed
            and self.enable not in ("0", "false", "no")
            and self.unattended_upgrade not in ("", "0")
        )


@dataclass(frozen=True, slots=True)
class LastRun:
    """When unattended-upgrades last ran, and how it ended (None: not known)."""

    finished: datetime
    result: RunResult | None


@dataclass(frozen=True, slots=True)
class HostStatus:
    """What one poll found on the host."""

    os_name: str
    kernel: str | None
    booted_at: datetime | None
    reboot_required: bool
    reboot_packages: tuple[str, ...]
    updates: tuple[PendingUpdate, ...]
    lists_updated: datetime | None
    automatic_updates: AutomaticUpdates
    last_run: LastRun | None
    ssh: SshSettings

    @property
    def security_updates(self) -> tuple[PendingUpdate, ...]:
        """The pending updates that come from a security archive."""
        return tuple(update for update in self.updates if update.security)


@dataclass(frozen=True, slots=True)
class AptSettings:
    """What `apt-config dump` says of the places and periodic settings the client reads."""

    values: Mapping[str, str]

    def path(self, key: str) -> str:
        """A directory or file setting, resolved against its parents as apt resolves it."""
        value = self.values.get(key, "")
        if key == "Dir" or value.startswith("/"):
            return value or "/"
        parent = key.rpartition("::")[0]
        return posixpath.join(self.path(parent), value)

    @property
    def lists(self) -> str:
        """Where `apt update` keeps the package lists."""
        return _strip_slash(self.path("Dir::State::lists"))

    @property
    def status(self) -> str:
        """The status file of dpkg: what is installed."""
        return self.path("Dir::State::status")

    @property
    def stamps(self) -> str:
        """Where apt's daily job keeps its stamps."""
        return posixpath.join(self.path("Dir::State"), "periodic")

    @property
    def log_dir(self) -> str:
        """unattended-upgrades' log directory."""
        return _strip_slash(self.values.get("Unattended-Upgrade::LogDir") or _DEFAULT_LOG_DIR)


def _strip_slash(path: str) -> str:
    return path.rstrip("/") or "/"


def parse_apt_config(text: str) -> AptSettings:
    """Read `apt-config dump`: one ``Key "value";`` per line."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if match := _APT_CONFIG_LINE.match(line.strip()):
            values.setdefault(match["key"], re.sub(r"\\(.)", r"\1", match["value"]))
    if "Dir::State" not in values:
        raise HostError("apt-config printed no apt configuration", text[:200])
    return AptSettings(values)


def _is_security_origin(origin: str) -> bool:
    """Whether one of apt's release descriptions (``Label:Version/Suite``) is a security one."""
    label, _, rest = origin.partition(":") if ":" in origin else ("", "", origin)
    suite = rest.rpartition("/")[2]
    return label.lower().endswith("security") or suite.lower().endswith("-security")


def parse_simulation(text: str) -> tuple[PendingUpdate, ...]:
    """The upgrades in `apt-get -s dist-upgrade`'s plan, with where each candidate comes from.

    apt describes a candidate by each of its releases, ``Label:Version/Suite``, comma-separated.
    """
    updates = []
    for line in text.splitlines():
        if match := _INST_LINE.match(line):
            origins = _ARCHITECTURE.sub("", match["origins"]).split(", ")
            updates.append(
                PendingUpdate(
                    match["name"],
                    match["installed"],
                    match["candidate"],
                    any(_is_security_origin(origin) for origin in origins),
                )
            )
    return tuple(updates)


def parse_installed(text: str) -> bool:
    """Whether `apt-cache policy PACKAGE` says the package is installed."""
    match = _INSTALLED.search(text)
    return match is not None and match["version"] != "(none)"


def parse_os_release(lines: Iterable[str]) -> dict[str, str]:
    """The ``KEY=value`` pairs of os-release(5), quotes and escapes removed."""
    values: dict[str, str] = {}
    for line in lines:
        key, separator, raw = line.partition("=")
        if not separator or not key.isidentifier():
            continue
        try:
            words = shlex.split(raw)
        except ValueError:
            continue
        values[key] = " ".join(words)
    return values


def parse_run_log(text: str) -> RunResult | None:
    """How the last run in unattended-upgrades' log ended, None when the log shows no run.

    unattended-upgrades logs ``DATE TIME,MS LEVEL message``; a run starts with "Starting
    unattended upgrades script". An ERROR in the run means it failed.
    """
    run: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not (match := _LOG_TIME.match(line)):
            continue
        if "Starting unattended upgrades script" in match["message"]:
            run = []
        run.append((match["level"], match["message"]))
    if not run:
        return None
    if any(level in ("ERROR", "CRITICAL") for level, _ in run):
        return RunResult.FAILED
    messages = " ".join(message for _, message in run)
    if "All upgrades installed" in messages or "Packages that will be upgraded" in messages:
        return RunResult.SUCCESS
    if "No packages found that can be upgraded unattended" in messages:
        return RunResult.NOTHING_TO_DO
    return None


@dataclass(slots=True)
class _SshdDirectives:
    """Global sshd settings while following a configuration: the first value wins."""

    values: dict[str, str] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)

    def set(self, keyword: str, value: str) -> None:
        self.values.setdefault(keyword, value)


_DIRECTIVE: Final = re.compile(r"([^\s=]+)\s*=?\s*(.*)")
_KEYWORD_ALIASES: Final = {
    "challengeresponseauthentication": "kbdinteractiveauthentication",
}


def sshd_directives(line: str) -> tuple[str, list[str]] | None:
    """A configuration line's lower-case keyword and its arguments; None for blanks, comments."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    # sshd separates the keyword from its arguments by white space (tabs too) or one "=".
    keyword, rest = _DIRECTIVE.match(stripped).groups()  # type: ignore[union-attr]
    try:
        arguments = shlex.split(rest, comments=True)
    except ValueError:
        return None
    keyword = keyword.lower()
    return _KEYWORD_ALIASES.get(keyword, keyword), arguments


def _yes(value: str) -> bool:
    return value.lower() == "yes"


def _permit_root_login(value: str) -> str:
    value = value.lower()
    return "prohibit-password" if value == "without-password" else value


def settings_from_sshd_t(text: str) -> SshSettings | None:
    """The settings `sshd -T` printed (lower-case ``keyword value`` lines), None if it did not."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        keyword, _, value = line.strip().partition(" ")
        values.setdefault(keyword.lower(), value)
    if "passwordauthentication" not in values or "permitrootlogin" not in values:
        return None
    return SshSettings(
        _yes(values["passwordauthentication"]),
        _yes(values.get("kbdinteractiveauthentication", "no")),
        _permit_root_login(values["permitrootlogin"]),
        SshConfigSource.SSHD_T,
    )


def _settings_from_directives(directives: _SshdDirectives) -> SshSettings:
    """The settings read, with the defaults of sshd where the configuration is silent."""
    values = directives.values
    return SshSettings(
        _yes(values.get("passwordauthentication", "yes")),
        _yes(values.get("kbdinteractiveauthentication", "yes")),
        _permit_root_login(values.get("permitrootlogin", "prohibit-password")),
        SshConfigSource.SSHD_CONFIG,
        tuple(directives.unreadable),
    )


def _grep_lines(text: str, paths: Sequence[str]) -> dict[str, list[str]]:
    """Lines of `grep -H` output by file, for files whose path is known in advance."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        for path in paths:
            if line.startswith(f"{path}:"):
                found.setdefault(path, []).append(line[len(path) + 1 :])
                break
    return found


def _grep_files(text: str) -> dict[str, list[str]]:
    """Lines of `grep -rH` output by file, for files found under a directory (no ':' in names)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        path, separator, content = line.partition(":")
        if separator:
            found.setdefault(path, []).append(content)
    return found


def _grep(*paths: str) -> list[str]:
    """Print every line of every readable file, prefixed with its name; missing files are quiet."""
    return ["grep", "-asH", "-e", "", "--", *paths]


@dataclass(frozen=True, slots=True)
class _Listing:
    """What `find` printed: modification times by path, and which paths exist."""

    mtimes: Mapping[str, float]

    def mtime(self, path: str) -> datetime | None:
        value = self.mtimes.get(path)
        return datetime.fromtimestamp(value, UTC) if value is not None else None

    def newest_below(self, directory: str, *, excluding: Iterable[str] = ()) -> datetime | None:
        prefix = directory.rstrip("/") + "/"
        skipped = {prefix + name for name in excluding}
        times = [
            mtime
            for path, mtime in self.mtimes.items()
            if path.startswith(prefix) and path not in skipped
        ]
        return datetime.fromtimestamp(max(times), UTC) if times else None


def parse_listing(text: str) -> _Listing:
    """Read ``SECONDS<TAB>PATH`` lines, as `find -printf` writes them."""
    mtimes: dict[str, float] = {}
    for line in text.splitlines():
        seconds, separator, path = line.partition("\t")
        if not separator:
            continue
        try:
            mtimes[path] = float(seconds)
        except ValueError:
            continue
    return _Listing(mtimes)


class HostClient:
    """Reads one host's update and SSH posture through a command runner.

    The apt simulation, and the check whether unattended-upgrades is installed, run again only
    when the package lists or dpkg's status changed; the log of unattended-upgrades is read only
    when it changed. `sshd -T` is tried until it is refused once (it needs root); after that the
    configuration files are read.
    """

    def __init__(
        self,
        runner: CommandRunner,
        paths: HostPaths | None = None,
        *,
        time_limit: float = TIME_LIMIT,
        apt_time_limit: float = APT_TIME_LIMIT,
    ) -> None:
        """Read the host through runner, at paths (the system's own places by default)."""
        self.runner = runner
        self.paths = paths or HostPaths()
        self.time_limit = time_limit
        self.apt_time_limit = apt_time_limit
        self._apt_state: tuple[tuple[str, float], ...] | None = None
        self._updates: tuple[PendingUpdate, ...] = ()
        self._installed = False
        self._log_state: float | None = None
        self._log_result: RunResult | None = None
        self._sshd_t_refused = False
        self._boot: tuple[str, datetime] | None = None

    async def _run(self, argv: Sequence[str], *, apt: bool = False) -> CommandResult:
        return await self.runner.run(
            argv, time_limit=self.apt_time_limit if apt else self.time_limit
        )

    async def poll(self) -> HostStatus:
        """Read everything once, on one connection when over SSH."""
        async with self.runner.session():
            return await self._poll()

    async def _poll(self) -> HostStatus:
        paths = self.paths
        files = await self._run(
            _grep(
                paths.os_release,
                paths.os_release_fallback,
                paths.reboot_required_packages,
                paths.kernel_release,
                paths.uptime,
                paths.boot_id,
                paths.sshd_config,
            )
        )
        file_lines = _grep_lines(
            files.stdout,
            [
                paths.os_release,
                paths.os_release_fallback,
                paths.reboot_required_packages,
                paths.kernel_release,
                paths.uptime,
                paths.boot_id,
                paths.sshd_config,
            ],
        )
        os_release = parse_os_release(
            file_lines.get(paths.os_release) or file_lines.get(paths.os_release_fallback) or []
        )
        os_name = os_release.get("PRETTY_NAME") or os_release.get("NAME") or "Linux"
        try:
            config = await self._run([*_APT_PREFIX, "apt-config", "dump"])
        except CommandNotFoundError as err:
            raise UnsupportedOsError(os_name) from err
        if config.exit_status == _COMMAND_NOT_FOUND:
            # env ran, apt-config did not: a system without apt.
            raise UnsupportedOsError(os_name)
        if config.exit_status != 0:
            raise HostError("apt-config failed", config.stderr.strip()[:500])
        apt = parse_apt_config(config.stdout)
        # find reads a start path that is not absolute as an expression: only absolute ones go.
        starts = [
            path
            for path in (
                apt.lists,
                apt.status,
                apt.stamps,
                apt.log_dir,
                paths.reboot_required,
                paths.sshd_config,
            )
            if path.startswith("/")
        ]
        listing = parse_listing(
            (await self._run(["find", *starts, "-maxdepth", "1", "-printf", "%T@\\t%p\\n"])).stdout
        )
        await self._read_apt(apt, listing)
        last_run = await self._read_last_run(apt, listing)
        ssh = await self._read_ssh(
            file_lines.get(paths.sshd_config), exists=paths.sshd_config in listing.mtimes
        )
        kernel_lines = file_lines.get(paths.kernel_release) or [""]
        return HostStatus(
            os_name=os_name,
            kernel=kernel_lines[0].strip() or None,
            booted_at=self._booted_at(file_lines),
            reboot_required=paths.reboot_required in listing.mtimes,
            reboot_packages=tuple(
                sorted(
                    {
                        line.strip()
                        for line in file_lines.get(paths.reboot_required_packages, [])
                        if line.strip()
                    }
                )
            )[:MAX_LISTED_PACKAGES],
            updates=self._updates,
            lists_updated=listing.newest_below(apt.lists, excluding=("lock",)),
            automatic_updates=AutomaticUpdates(
                self._installed,
                apt.values.get("APT::Periodic::Enable", "1"),
                apt.values.get("APT::Periodic::Unattended-Upgrade", ""),
                apt.values.get("APT::Periodic::Update-Package-Lists", ""),
            ),
            last_run=last_run,
            ssh=ssh,
        )

    def _booted_at(self, file_lines: Mapping[str, list[str]]) -> datetime | None:
        """When the host booted: kept per boot ID, so the clocks' jitter does not change it."""
        boot_id = "".join(file_lines.get(self.paths.boot_id, [])).strip()
        if self._boot is not None and boot_id and self._boot[0] == boot_id:
            return self._boot[1]
        try:
            uptime = float((file_lines.get(self.paths.uptime) or [""])[0].split()[0])
        except ValueError, IndexError:
            return None
        booted_at = (datetime.now(UTC) - timedelta(seconds=uptime)).replace(microsecond=0)
        if boot_id:
            self._boot = (boot_id, booted_at)
        return booted_at

    async def _read_apt(self, apt: AptSettings, listing: _Listing) -> None:
        """Simulate an upgrade, and look for unattended-upgrades, when apt's inputs changed."""
        state = tuple(
            sorted(
                (path, mtime)
                for path, mtime in listing.mtimes.items()
                if path == apt.status or path.startswith(apt.lists + "/")
            )
        )
        if state == self._apt_state:
            return
        simulation = await self._run(
            [
                *_APT_PREFIX,
                "apt-get",
                "--simulate",
                "-o",
                "Debug::NoLocking=true",
                *_NO_CACHE_FILES,
                "dist-upgrade",
            ],
            apt=True,
        )
        if simulation.exit_status != 0:
            raise HostError("apt-get --simulate failed", simulation.stderr.strip()[-500:])
        policy = await self._run(
            [*_APT_PREFIX, "apt-cache", *_NO_CACHE_FILES, "policy", "unattended-upgrades"],
            apt=True,
        )
        self._updates = parse_simulation(simulation.stdout)
        self._installed = parse_installed(policy.stdout)
        self._apt_state = state

    async def _read_last_run(self, apt: AptSettings, listing: _Listing) -> LastRun | None:
        """The last run of unattended-upgrades, from its log; else from apt's success stamp."""
        log = posixpath.join(apt.log_dir, _LOG_NAME)
        log_time = listing.mtime(log)
        if log_time is not None:
            mtime = listing.mtimes[log]
            if mtime != self._log_state:
                result = await self._run(["tail", "-c", str(LOG_TAIL_BYTES), log])
                self._log_result = parse_run_log(result.stdout) if result.exit_status == 0 else None
                self._log_state = mtime
            if self._log_result is not None:
                return LastRun(log_time, self._log_result)
        stamp = listing.mtime(posixpath.join(apt.stamps, _UPGRADE_STAMP))
        return LastRun(stamp, None) if stamp is not None else None

    async def _read_ssh(self, main_lines: list[str] | None, *, exists: bool) -> SshSettings:
        """The SSH server's effective settings: `sshd -T` if it may run, else its files.

        A configuration file that exists but shows no line may be unreadable: sshd's defaults
        are assumed, and the file is named as unreadable.
        """
        paths = self.paths
        if not self._sshd_t_refused:
            try:
                result = await self._run([paths.sshd, "-T", "-f", paths.sshd_config])
            except CommandNotFoundError:
                result = None
            settings = settings_from_sshd_t(result.stdout) if result is not None else None
            if settings is not None and result is not None and result.exit_status == 0:
                return settings
            self._sshd_t_refused = True
        if not exists:
            return SshSettings(
                password_authentication=False,
                kbd_interactive_authentication=False,
                permit_root_login="no",
                source=SshConfigSource.NOT_INSTALLED,
            )
        directives = _SshdDirectives()
        if main_lines is None:
            directives.unreadable.append(paths.sshd_config)
        await self._follow(main_lines or [], directives, depth=0)
        return _settings_from_directives(directives)

    async def _follow(self, lines: list[str], directives: _SshdDirectives, depth: int) -> None:
        """Apply one file's global lines in order, reading Included files where they appear.

        A Match block lasts until the next Match or the end of the file, as in sshd; nothing in
        it is global.
        """
        in_match = False
        for line in lines:
            parsed = sshd_directives(line)
            if parsed is None:
                continue
            keyword, arguments = parsed
            if keyword == "match":
                in_match = True
            elif in_match or not arguments:
                continue
            elif keyword == "include":
                if depth >= _MAX_INCLUDE_DEPTH:
                    raise HostError("sshd_config Includes nest too deeply")
                for pattern in arguments:
                    for included in await self._read_included(pattern, directives):
                        await self._follow(included, directives, depth + 1)
            else:
                directives.set(keyword, arguments[0])

    async def _read_included(self, pattern: str, directives: _SshdDirectives) -> list[list[str]]:
        """The files an Include pattern names, in the order sshd reads them (sorted).

        Relative patterns are relative to /etc/ssh, as in sshd; wildcards are expanded in the
        last part of the path only.
        """
        if not pattern.startswith("/"):
            pattern = posixpath.join(posixpath.dirname(self.paths.sshd_config), pattern)
        directory, name = posixpath.split(pattern)
        if _GLOB_CHARACTERS & set(directory):
            directives.unreadable.append(pattern)
            return []
        if not _GLOB_CHARACTERS & set(name):
            result = await self._run([*_APT_PREFIX, "grep", "-aH", "-e", "", "--", pattern])
            if "Permission denied" in result.stderr:
                directives.unreadable.append(pattern)
            return [_grep_lines(result.stdout, [pattern]).get(pattern, [])]
        # -R: drop-in files are often links (e.g. into /usr/share).
        result = await self._run(
            [*_APT_PREFIX, "grep", "-aHR", f"--include={name}", "-e", "", "--", directory]
        )
        if "Permission denied" in result.stderr:
            directives.unreadable.append(pattern)
        files = _grep_files(result.stdout)
        return [
            files[path]
            for path in sorted(files)
            if posixpath.dirname(path) == directory
            and fnmatch.fnmatchcase(posixpath.basename(path), name)
        ]
