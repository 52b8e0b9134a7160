"""Bounded reads of files a user controls: regular files only, never more than a cap.

A shared helper for safe file reads is planned for the whole integration; this small one serves
the home_assistant kind until then.
"""

from __future__ import annotations

import os
from pathlib import Path
import stat


class UnreadableFileError(OSError):
    """The file is not a regular file, or is larger than allowed."""


def read_capped(path: Path, limit: int) -> bytes:
    """Read a regular file of at most limit bytes (blocking).

    Opened without blocking, so that a FIFO or a device in its place cannot hang the reader;
    FileNotFoundError and PermissionError pass through as they are.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFileError(f"{path.name} is not a regular file")
        chunks: list[bytes] = []
        remaining = limit + 1
        while remaining > 0 and (chunk := os.read(descriptor, min(remaining, 1 << 20))):
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(descriptor)
    content = b"".join(chunks)
    if len(content) > limit:
        raise UnreadableFileError(f"{path.name} is larger than {limit} bytes")
    return content
