"""A private apt world, real sshd configurations and the test sshd, for the host kind's tests.

* Two versions of two tiny packages are built with `dpkg-deb`; the old ones are installed with
  `dpkg` into a private dpkg database, the new ones are served by two local `file:` repositories
  made with `apt-ftparchive`, one of them a security archive by its Release file
  (``Label: Debian-Security``, ``Suite: stable-security``).
* A private apt configuration (``APT_CONFIG``) points apt's state, configuration, cache and logs
  at a directory of the test run, so apt never reads or changes the machine's own. The test runs
  the real `apt-get update` on it; the integration itself must never change the lists.
* The test sshd (tests/certbot) is started with ``SetEnv APT_CONFIG=...``, so commands over SSH see
  the same private apt world.

Everything lives in a world-readable directory of its own, removed afterwards: the SSH test user
reads it too. Blocking work runs in a worker thread.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
import os
from pathlib import Path
import shutil
import subprocess
import tempfile

import pytest

from custom_components.homelab_sentinel.host.client import HostPaths
from tests.certbot.conftest import (
    KeyPair,
    SshServer,
    SshUser,
    client_key,
    in_worker,
    make_key_pair,
    ssh_user,
)

__all__ = ["client_key", "ssh_user"]

# The packages, their installed and their newer versions, and whether the newer one is a
# security update.
PACKAGES = (("sentinel-tiny", "1.0", "2.0", False), ("sentinel-sec", "1.0", "1.1", True))
UNATTENDED_UPGRADES = "unattended-upgrades"


def _run(*argv: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(  # noqa: S603 - system tools, arguments made by the tests
        argv,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"{argv[0]} failed: {result.stderr}")
    return result.stdout


def build_package(directory: Path, name: str, version: str) -> Path:
    """A tiny architecture-independent package with one documentation file (blocking)."""
    tree = directory / f"{name}-{version}"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: Homelab Sentinel tests <tests@sentinel.invalid>\n"
        "Description: a package of the host kind's tests\n"
    )
    (tree / "usr" / "share" / "doc" / name).mkdir(parents=True)
    (tree / "usr" / "share" / "doc" / name / "README").write_text(f"{name} {version}\n")
    deb = directory / f"{name}_{version}_all.deb"
    _run("dpkg-deb", "-Zgzip", "--root-owner-group", "--build", str(tree), str(deb))
    return deb


def make_repository(directory: Path, debs: list[Path], label: str, suite: str) -> None:
    """A flat `file:` repository with its own Packages and Release files (blocking)."""
    directory.mkdir(parents=True)
    for deb in debs:
        shutil.copy(deb, directory)
    (directory / "Packages").write_text(_run("apt-ftparchive", "packages", ".", cwd=directory))
    release = _run(
        "apt-ftparchive",
        "-o",
        f"APT::FTPArchive::Release::Origin={label.split('-', maxsplit=1)[0]}",
        "-o",
        f"APT::FTPArchive::Release::Label={label}",
        "-o",
        f"APT::FTPArchive::Release::Suite={suite}",
        "release",
        ".",
        cwd=directory,
    )
    (directory / "Release").write_text(release)


@dataclass
class AptWorld:
    """A private apt and dpkg state, and the files a host shows, under root."""

    root: Path
    debs: dict[tuple[str, str], Path]

    @property
    def apt_config(self) -> Path:
        """The file APT_CONFIG names."""
        return self.root / "apt.conf"

    @property
    def admin(self) -> Path:
        """dpkg's private database."""
        return self.root / "dpkg"

    @property
    def lists(self) -> Path:
        """Where apt keeps the package lists."""
        return self.root / "state" / "lists"

    @property
    def parts(self) -> Path:
        """The private apt.conf.d."""
        return self.root / "etc" / "apt.conf.d"

    @property
    def log_dir(self) -> Path:
        """unattended-upgrades' private log directory."""
        return self.root / "log" / "unattended-upgrades"

    @property
    def stamps(self) -> Path:
        """apt's daily job's stamps."""
        return self.root / "state" / "periodic"

    @property
    def environment(self) -> dict[str, str]:
        """What a command needs to see this world instead of the machine's apt."""
        return {"APT_CONFIG": str(self.apt_config)}

    def paths(self, **overrides: str) -> HostPaths:
        """The host's files (os-release, reboot flag, sshd_config) inside this world."""
        values = {
            "os_release": str(self.root / "os-release"),
            "os_release_fallback": str(self.root / "no-such-os-release"),
            "reboot_required": str(self.root / "run" / "reboot-required"),
            "reboot_required_packages": str(self.root / "run" / "reboot-required.pkgs"),
            "sshd_config": str(self.root / "ssh" / "sshd_config"),
        }
        values.update(overrides)
        return HostPaths(**values)

    def reset(self) -> None:
        """Install the old versions only, refresh the lists, no reboot flag (blocking)."""
        for name in ("dpkg", "state", "etc", "cache", "log", "run", "inst", "ssh", "bin"):
            shutil.rmtree(self.root / name, ignore_errors=True)
        self.admin.mkdir()
        (self.admin / "updates").mkdir()
        (self.admin / "info").mkdir()
        (self.admin / "status").touch()
        for directory in (
            self.parts,
            self.root / "etc" / "sources.list.d",
            self.root / "etc" / "preferences.d",
            self.lists / "partial",
            self.root / "cache" / "archives" / "partial",
            self.log_dir,
            self.stamps,
            self.root / "run",
            self.root / "ssh" / "sshd_config.d",
            self.root / "inst",
        ):
            directory.mkdir(parents=True, exist_ok=True)
        (self.root / "etc" / "sources.list").write_text(
            f"deb [trusted=yes] file:{self.root / 'repo' / 'main'} ./\n"
            f"deb [trusted=yes] file:{self.root / 'repo' / 'security'} ./\n"
        )
        (self.root / "os-release").write_text(
            'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nID=debian\n'
        )
        self.install(*(self.debs[name, old] for name, old, _, _ in PACKAGES))
        self.update()
        self.write_sshd_config("PasswordAuthentication no\nKbdInteractiveAuthentication no\n")
        self.world_readable()

    def world_readable(self) -> None:
        """Let the SSH test user read everything, as on a real system (blocking)."""
        for path in [self.root, *self.root.rglob("*")]:
            if path.is_symlink() or path.name.endswith("host-key"):
                continue
            mode = 0o755 if path.is_dir() else 0o644
            if path.name == "partial":
                mode = 0o700
            path.chmod(mode)

    def install(self, *debs: Path) -> None:
        """Install packages into the private dpkg database (blocking)."""
        _run(
            "dpkg",
            f"--admindir={self.admin}",
            f"--instdir={self.root / 'inst'}",
            "--force-not-root",
            "--force-script-chrootless",
            "--log=/dev/null",
            "--install",
            *(str(deb) for deb in debs),
        )
        (self.admin / "status").chmod(0o644)

    def remove(self, name: str) -> None:
        """Remove a package from the private dpkg database (blocking)."""
        _run(
            "dpkg",
            f"--admindir={self.admin}",
            f"--instdir={self.root / 'inst'}",
            "--force-not-root",
            "--force-script-chrootless",
            "--log=/dev/null",
            "--purge",
            name,
        )

    def update(self) -> None:
        """`apt-get update` on the private configuration, as apt's daily job does (blocking)."""
        _run("apt-get", "-qq", "update", env=self.environment)

    def snapshot(self) -> dict[str, tuple[float, int]]:
        """Every file of the lists and dpkg's state, with its mtime and size (blocking)."""
        return {
            str(path): (path.lstat().st_mtime, path.lstat().st_size)
            for directory in (self.lists, self.admin, self.root / "cache")
            for path in [directory, *directory.rglob("*")]
        }

    def set_periodic(self, unattended_upgrade: str | None) -> None:
        """Write 20auto-upgrades as `dpkg-reconfigure unattended-upgrades` does (blocking)."""
        conf = self.parts / "20auto-upgrades"
        if unattended_upgrade is None:
            conf.unlink(missing_ok=True)
            return
        conf.write_text(
            'APT::Periodic::Update-Package-Lists "1";\n'
            f'APT::Periodic::Unattended-Upgrade "{unattended_upgrade}";\n'
        )
        conf.chmod(0o644)

    def write_sshd_config(self, drop_in: str | None, main_extra: str = "") -> Path:
        """A Debian-like sshd_config that Includes sshd_config.d/*.conf first (blocking)."""
        ssh = self.root / "ssh"
        for old in (ssh / "sshd_config.d").glob("*.conf"):
            old.unlink()
        if drop_in is not None:
            (ssh / "sshd_config.d" / "50-sentinel.conf").write_text(drop_in)
        (ssh / "sshd_config.d" / "README").write_text("PasswordAuthentication yes\n")
        config = ssh / "sshd_config"
        config.write_text(
            f"Include {ssh / 'sshd_config.d'}/*.conf\n"
            f"HostKey {self.root / 'ssh' / 'host-key'}\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            f"{main_extra}"
            "Match User backup\n"
            "    PasswordAuthentication yes\n"
            "    PermitRootLogin yes\n"
        )
        self.world_readable()
        return config


def build_packages(root: Path) -> dict[tuple[str, str], Path]:
    """The packages and the two repositories under root, and an SSH host key (blocking)."""
    root.chmod(0o755)
    packages = root / "packages"
    packages.mkdir()
    debs = {}
    for name, old, new, _ in PACKAGES:
        debs[name, old] = build_package(packages, name, old)
        debs[name, new] = build_package(packages, name, new)
    debs[UNATTENDED_UPGRADES, "2.12"] = build_package(packages, UNATTENDED_UPGRADES, "2.12")
    new_versions = {name: new for name, _, new, _ in PACKAGES}
    make_repository(
        root / "repo" / "main",
        [debs[name, new_versions[name]] for name, _, _, sec in PACKAGES if not sec],
        "Demo",
        "stable",
    )
    make_repository(
        root / "repo" / "security",
        [debs[name, new_versions[name]] for name, _, _, sec in PACKAGES if sec],
        "Debian-Security",
        "stable-security",
    )
    make_key_pair(root, "ssh-host-key")
    return debs


def make_world(root: Path, debs: dict[tuple[str, str], Path]) -> AptWorld:
    """The private apt world under root: old versions installed, lists fresh (blocking)."""
    world = AptWorld(root, debs)
    world.apt_config.write_text(
        f'Dir::State "{root / "state"}";\n'
        f'Dir::State::status "{root / "dpkg" / "status"}";\n'
        f'Dir::Etc "{root / "etc"}";\n'
        f'Dir::Cache "{root / "cache"}";\n'
        f'Dir::Log "{root / "log"}";\n'
        f'Unattended-Upgrade::LogDir "{world.log_dir}";\n'
    )
    world.reset()
    shutil.copy(root / "ssh-host-key", root / "ssh" / "host-key")
    (root / "ssh" / "host-key").chmod(0o600)
    return world


@pytest.fixture(scope="session")
def apt_root() -> Generator[tuple[Path, dict[tuple[str, str], Path]]]:
    """The packages and repositories, built once, in a world-readable directory."""
    root = Path(tempfile.mkdtemp(prefix="sentinel-host-"))
    try:
        yield root, in_worker(lambda: build_packages(root))
    finally:
        in_worker(lambda: shutil.rmtree(root, ignore_errors=True))


@pytest.fixture
def apt_world(apt_root: tuple[Path, dict[tuple[str, str], Path]]) -> AptWorld:
    """The private apt world, reset for each test: old versions installed, lists fresh."""
    root, debs = apt_root
    return in_worker(lambda: make_world(root, debs))


class HostSshServer(SshServer):
    """The test sshd, with ``SetEnv`` lines for the sessions it opens."""

    def __init__(
        self, directory: Path, authorized: dict[str, str], environment: dict[str, str]
    ) -> None:
        """Like SshServer; environment is set for every session."""
        super().__init__(directory, authorized)
        self.environment = environment

    def _write_config(self) -> Path:
        config = super()._write_config()
        settings = " ".join(f"{name}={value}" for name, value in self.environment.items())
        config.write_text(config.read_text() + f"SetEnv {settings}\n")
        return config


def _host_sshd(
    directory: Path, client_key: KeyPair, user: SshUser, environment: dict[str, str]
) -> HostSshServer:
    return HostSshServer(
        directory, {"root": client_key.public, user.name: client_key.public}, environment
    )


@pytest.fixture(scope="session")
def host_sshd(
    tmp_path_factory: pytest.TempPathFactory,
    client_key: KeyPair,
    ssh_user: SshUser,
    apt_root: tuple[Path, dict[tuple[str, str], Path]],
) -> Generator[HostSshServer]:
    """An OpenSSH server whose sessions see the private apt world."""
    server = in_worker(
        lambda: _host_sshd(
            tmp_path_factory.mktemp("host-sshd"),
            client_key,
            ssh_user,
            {"APT_CONFIG": str(apt_root[0] / "apt.conf")},
        )
    )
    in_worker(server.start)
    try:
        yield server
    finally:
        in_worker(server.remove)


@pytest.fixture
def own_host_sshd(
    tmp_path: Path, client_key: KeyPair, ssh_user: SshUser, apt_world: AptWorld
) -> Generator[HostSshServer]:
    """An sshd of one test, which may stop, restart or change its host key."""
    server = in_worker(
        lambda: _host_sshd(tmp_path / "sshd", client_key, ssh_user, apt_world.environment)
    )
    in_worker(server.start)
    try:
        yield server
    finally:
        in_worker(server.remove)
