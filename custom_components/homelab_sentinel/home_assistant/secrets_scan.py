"""Secrets written inline in Home Assistant's YAML configuration, found without reading values.

The files are composed, not constructed: tags such as `!secret` and `!include` stay visible, and
nothing is ever resolved, substituted or run. Includes are followed inside the configuration
directory only; every file is read with a size cap, once per change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
import os
from pathlib import Path

import yaml

from ..user_files import UserFileError, read_user_file

# libyaml's fast loader where PyYAML was built with it, as Home Assistant's own loader does.
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_FILE_BYTES = 4 << 20
MAX_FILES = 2000
SECRETS_FILE = "secrets.yaml"

SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "token",
        "access_token",
        "refresh_token",
        "api_key",
        "apikey",
        "api_token",
        "api_password",
        "auth_token",
        "bearer_token",
        "secret",
        "client_secret",
        "secret_key",
        "private_key",
        "webhook_id",
        "app_secret",
        "consumer_secret",
        "encryption_key",
    }
)
_SECRET_SUFFIXES = ("_password", "_token", "_secret", "_api_key", "_private_key")
# Values that refer to a secret rather than hold it.
_REFERENCE_TAGS = frozenset({"!secret", "!env_var", "!input"})
_INLINE_TAGS = frozenset(
    {"tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
)
_INCLUDE_DIR_TAGS = frozenset(
    {
        "!include_dir_list",
        "!include_dir_named",
        "!include_dir_merge_list",
        "!include_dir_merge_named",
    }
)


def names_a_secret(key: str) -> bool:
    """Whether a configuration key holds a secret by its name."""
    lowered = key.lower()
    return lowered in SECRET_KEYS or lowered.endswith(_SECRET_SUFFIXES)


class ConfigurationError(Exception):
    """A configuration file cannot be read or parsed; location is `file:line` or `file`."""

    def __init__(self, location: str, problem: str) -> None:
        """Say where and what."""
        super().__init__(f"{location}: {problem}")
        self.location = location
        self.problem = problem


@dataclass(frozen=True, slots=True)
class _Include:
    tag: str
    target: str
    key: str | None


@dataclass(slots=True)
class _FileScan:
    """What one file holds: inline secrets (line, key) and includes, in document order."""

    findings: list[tuple[int, str]] = field(default_factory=list)
    includes: list[_Include] = field(default_factory=list)
    root_scalar_line: int | None = None


def _is_inline(node: yaml.ScalarNode) -> bool:
    if node.tag in _REFERENCE_TAGS or node.tag not in _INLINE_TAGS:
        return False
    value = node.value.strip()
    if not value or "{{" in value or "{%" in value:
        return False
    # A private key given as a path names the file that holds it.
    return not (value.startswith("/") and "\n" not in value and " " not in value)


def _scan_node(root: yaml.Node, scan: _FileScan) -> None:
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str | None]] = [(root, None)]
    while stack:
        node, key = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            if node.tag == "!include" or node.tag in _INCLUDE_DIR_TAGS:
                scan.includes.append(_Include(node.tag, node.value, key))
            elif key is not None and names_a_secret(key) and _is_inline(node):
                scan.findings.append((node.start_mark.line + 1, key))
        elif isinstance(node, yaml.MappingNode):
            stack.extend(
                (value, str(name.value) if isinstance(name, yaml.ScalarNode) else None)
                for name, value in reversed(node.value)
            )
        else:  # a sequence: its items belong to the key that holds it
            stack.extend((item, key) for item in reversed(node.value))


def _scan_content(content: bytes, label: str) -> _FileScan:
    try:
        root = yaml.compose(content, Loader=SAFE_LOADER)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        location = f"{label}:{mark.line + 1}" if mark is not None else label
        raise ConfigurationError(location, err.problem or "invalid YAML") from err
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigurationError(label, "invalid YAML") from err
    scan = _FileScan()
    if root is None:
        return scan
    if isinstance(root, yaml.ScalarNode) and _is_inline(root):
        scan.root_scalar_line = root.start_mark.line + 1
    _scan_node(root, scan)
    return scan


@dataclass(frozen=True, slots=True)
class SecretsReport:
    """Where secrets are written inline, as `file:line key`, in the order of the files."""

    locations: tuple[str, ...]
    files: int


class ConfigurationScanner:
    """Scans configuration.yaml and what it includes; unchanged files are not parsed again."""

    def __init__(self, config_dir: Path) -> None:
        """Scan the configuration in config_dir; nothing is read before the first scan."""
        self._given_dir = config_dir
        self.config_dir = config_dir
        self._cache: dict[Path, tuple[tuple[int, int, int], _FileScan]] = {}

    def _label(self, path: Path) -> str:
        return path.relative_to(self.config_dir).as_posix()

    def _inside(self, path: Path) -> Path | None:
        """The resolved path, if it lies in the configuration directory."""
        resolved = path.resolve()
        return resolved if resolved.is_relative_to(self.config_dir) else None

    def _scan_file(self, path: Path) -> _FileScan:
        label = self._label(path)
        try:
            info = path.stat()
            signature = (info.st_mtime_ns, info.st_size, info.st_ino)
            cached = self._cache.get(path)
            if cached is not None and cached[0] == signature:
                return cached[1]
            content = read_user_file(path, MAX_FILE_BYTES)
        except UserFileError as err:
            raise ConfigurationError(label, str(err)) from err
        except OSError as err:
            raise ConfigurationError(label, err.strerror or "unreadable") from err
        scan = _scan_content(content, label)
        self._cache[path] = (signature, scan)
        return scan

    def _directory_files(self, directory: Path) -> Iterator[Path]:
        """The YAML files Home Assistant's include_dir tags take, in its order."""
        for root, dirs, files in os.walk(directory, followlinks=False):
            dirs[:] = sorted(name for name in dirs if not name.startswith("."))
            for name in sorted(files):
                if name.endswith(".yaml") and not name.startswith(".") and name != SECRETS_FILE:
                    yield Path(root) / name

    def scan(self) -> SecretsReport:
        """Scan the whole tree (blocking); raises ConfigurationError for a broken file."""
        self.config_dir = self._given_dir.resolve()
        locations: list[str] = []
        visited: set[Path] = set()
        pending: list[tuple[Path, str | None]] = [(self.config_dir / "configuration.yaml", None)]
        while pending:
            path, key = pending.pop()
            inside = self._inside(path)
            if inside is None or inside in visited:
                continue
            visited.add(inside)
            if len(visited) > MAX_FILES:
                raise ConfigurationError(self._label(inside), "too many included files")
            scan = self._scan_file(inside)
            label = self._label(inside)
            if scan.root_scalar_line is not None and key is not None and names_a_secret(key):
                locations.append(f"{label}:{scan.root_scalar_line} {key}")
            locations.extend(f"{label}:{line} {name}" for line, name in scan.findings)
            includes: list[tuple[Path, str | None]] = []
            for include in scan.includes:
                target = inside.parent / include.target
                if include.tag == "!include":
                    includes.append((target, include.key))
                elif (directory := self._inside(target)) is not None and directory.is_dir():
                    includes.extend((file, None) for file in self._directory_files(directory))
            pending.extend(reversed(includes))
        # Files no longer included are forgotten.
        for path in set(self._cache) - visited:
            del self._cache[path]
        return SecretsReport(tuple(locations), len(visited))
