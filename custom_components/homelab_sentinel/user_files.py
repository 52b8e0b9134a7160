"""One rule for every file a user names: open without blocking, regular files only, read capped.

A FIFO would block an executor thread forever in open() or read(); a device such as /dev/zero
never ends; a symbolic link loop or an over-long name fails with an OSError of its own. Each of
these ends here as a UserFileError, which flows show as a form error and polls as a failure.
All functions block and belong in an executor. This module has no Home Assistant imports.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
import os
from pathlib import Path
import stat
from typing import BinaryIO

# Linux's PATH_MAX: no longer path can be opened anyway.
MAX_PATH_LENGTH = 4096
_CHUNK = 64 * 1024


class UserFileError(Exception):
    """A path a user gave cannot be read as asked; the message names the path, never contents."""


class InvalidPathError(UserFileError):
    """The path is empty, too long, or holds a NUL or another control character."""


class UserFileNotFoundError(UserFileError):
    """Nothing exists at the path."""


class UserFilePermissionError(UserFileError):
    """The path exists but may not be read by this user."""


class NotRegularFileError(UserFileError):
    """The path is a directory, FIFO, socket or device where a regular file is expected."""


class FileTooLargeError(UserFileError):
    """The file is larger than what is expected there."""


def check_path(path: str) -> str:
    """Return the path stripped, or raise InvalidPathError; nothing on disk is touched."""
    text = path.strip() if isinstance(path, str) else ""
    if not text:
        raise InvalidPathError("no path given")
    if len(text) > MAX_PATH_LENGTH or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise InvalidPathError("the path is too long or holds a control character")
    return text


def _os_error(path: str | os.PathLike[str], err: OSError) -> UserFileError:
    if isinstance(err, FileNotFoundError):
        return UserFileNotFoundError(f"{path} does not exist")
    if isinstance(err, PermissionError):
        return UserFilePermissionError(f"{path} may not be read by this user")
    return UserFileError(f"cannot open or read {path}: {err.strerror or type(err).__name__}")


def resolve_path(path: str) -> str:
    """The checked path with ``~`` expanded and every symbolic link resolved.

    A symbolic link loop or a name too long for the system raises UserFileError.
    """
    text = check_path(path)
    try:
        return os.path.realpath(os.path.expanduser(text), strict=os.path.ALLOW_MISSING)  # noqa: PTH111
    except OSError as err:
        raise _os_error(text, err) from err


def stat_path(path: str | os.PathLike[str]) -> os.stat_result:
    """The status of what the path names (links followed); every failure is a UserFileError."""
    try:
        return Path(path).stat()
    except OSError as err:
        raise _os_error(path, err) from err
    except ValueError as err:
        raise InvalidPathError("the path holds a NUL character") from err


@contextmanager
def open_regular_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a regular file for reading without ever blocking on what the path names.

    O_NONBLOCK makes open() of a FIFO return at once; fstat() then refuses anything but a regular
    file, so no read from a FIFO or device ever starts. O_NOCTTY keeps a terminal from becoming
    Home Assistant's controlling terminal.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as err:
        raise _os_error(path, err) from err
    except ValueError as err:
        raise InvalidPathError("the path holds a NUL character") from err
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        what = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise NotRegularFileError(f"{path} is {what}")
    # The built-in open(), not os.fdopen(): Home Assistant's blocking-call detector watches it,
    # so a call from the event loop is reported like any other file read.
    with open(descriptor, "rb") as handle:  # noqa: PTH123
        yield handle


def read_capped(handle: BinaryIO, limit: int, path: str | os.PathLike[str] = "") -> bytes:
    """Read an open file to its end, or raise FileTooLargeError once it passes limit bytes."""
    data = bytearray()
    try:
        while chunk := handle.read(min(_CHUNK, limit + 1 - len(data))):
            data += chunk
            if len(data) > limit:
                raise FileTooLargeError(f"{path} is larger than {limit} bytes")
    except OSError as err:
        raise _os_error(path, err) from err
    return bytes(data)


def read_user_file(path: str | os.PathLike[str], limit: int) -> bytes:
    """The whole content of a regular file of at most limit bytes; UserFileError otherwise."""
    with open_regular_file(path) as handle:
        return read_capped(handle, limit, path)
