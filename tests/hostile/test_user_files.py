"""One rule for every file a user names: no hang, no endless read, every failure an error."""

from __future__ import annotations

from pathlib import Path
import time

import pytest

from custom_components.homelab_sentinel.user_files import (
    FileTooLargeError,
    InvalidPathError,
    NotRegularFileError,
    UserFileError,
    UserFileNotFoundError,
    check_path,
    read_user_file,
    resolve_path,
    stat_path,
)

from .conftest import HostilePaths


def test_regular_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bundle.pem"
    path.write_bytes(b"x" * 1000)
    assert read_user_file(path, 1000) == b"x" * 1000


def test_file_past_its_cap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bundle.pem"
    path.write_bytes(b"x" * 1001)
    with pytest.raises(FileTooLargeError):
        read_user_file(path, 1000)


def test_fifo_is_refused_at_once(hostile_paths: HostilePaths) -> None:
    started = time.monotonic()
    with pytest.raises(NotRegularFileError, match="not a regular file"):
        read_user_file(hostile_paths.fifo, 1000)
    assert time.monotonic() - started < 1


def test_directory_is_refused(hostile_paths: HostilePaths) -> None:
    with pytest.raises(NotRegularFileError, match="directory"):
        read_user_file(hostile_paths.directory, 1000)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_devices_are_refused(device: str) -> None:
    with pytest.raises(NotRegularFileError):
        read_user_file(device, 1000)


def test_symlink_loop(hostile_paths: HostilePaths) -> None:
    with pytest.raises(UserFileError, match="symbolic links"):
        read_user_file(hostile_paths.loop, 1000)
    with pytest.raises(UserFileError, match="symbolic links"):
        resolve_path(str(hostile_paths.loop))
    with pytest.raises(UserFileError):
        stat_path(hostile_paths.loop)


def test_overlong_names(hostile_paths: HostilePaths, tmp_path: Path) -> None:
    with pytest.raises(InvalidPathError):
        resolve_path(hostile_paths.long)
    component = str(tmp_path / ("b" * 300))
    with pytest.raises(UserFileError, match="File name too long"):
        read_user_file(component, 1000)
    with pytest.raises(UserFileError, match="File name too long"):
        resolve_path(component)


@pytest.mark.parametrize("path", ["", "   ", "/etc/\x00passwd", "/tmp/a\nb", "a\x7fb"])
def test_invalid_paths(path: str) -> None:
    with pytest.raises(InvalidPathError):
        check_path(path)
    with pytest.raises(InvalidPathError):
        resolve_path(path)


def test_nul_byte_reaching_the_system_calls() -> None:
    with pytest.raises(InvalidPathError):
        read_user_file("/etc/\x00passwd", 10)
    with pytest.raises(InvalidPathError):
        stat_path("/etc/\x00passwd")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserFileNotFoundError):
        read_user_file(tmp_path / "missing", 10)
    with pytest.raises(UserFileNotFoundError):
        stat_path(tmp_path / "missing")


def test_resolve_expands_home_and_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "real.pem"
    target.write_text("x")
    (tmp_path / "link.pem").symlink_to(target)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_path(" ~/link.pem ") == str(target)
    assert resolve_path(str(tmp_path / "missing" / ".." / "real.pem")) == str(target)


def test_descriptors_are_closed(hostile_paths: HostilePaths) -> None:
    before = len(list(Path("/proc/self/fd").iterdir()))
    for _ in range(20):
        for path in (hostile_paths.fifo, hostile_paths.directory, Path("/dev/zero")):
            with pytest.raises(UserFileError):
                read_user_file(path, 10)
    assert len(list(Path("/proc/self/fd").iterdir())) <= before
