"""Checking a path before a config entry is created."""

from __future__ import annotations

import os
from pathlib import Path
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from custom_components.homelab_sentinel.fail2ban import client as client_module
from custom_components.homelab_sentinel.fail2ban.client import (
    Fail2banDatabase,
    Fail2banError,
    Fail2banLog,
    Fail2banNotFoundError,
    Fail2banPermissionError,
    Fail2banSourceKind,
    NotFail2banError,
    create_source,
    probe,
)

from .conftest import f2b_line
from .database import Fail2banDb

CLIENT = Path(client_module.__file__)
SECRET = "hunter2-do-not-leak"


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return Fail2banDb(tmp_path / "fail2ban.sqlite3", "sshd").path


def test_fail2ban_files_pass(tmp_path: Path, database: Path) -> None:
    log = tmp_path / "fail2ban.log"
    log.write_text(f2b_line("Jail 'sshd' started", logger="fail2ban.jail"))
    probe(log, "log")
    probe(database, Fail2banSourceKind.DATABASE)

    # Right after logrotate the log is empty until fail2ban writes again: accepted.
    log.write_bytes(b"")
    probe(log, Fail2banSourceKind.LOG)


def test_sources_are_built_by_kind(tmp_path: Path) -> None:
    database = create_source("database", tmp_path / "db")
    assert isinstance(database, Fail2banDatabase)
    assert database.path == tmp_path / "db"
    log = create_source(Fail2banSourceKind.LOG, tmp_path / "log")
    assert isinstance(log, Fail2banLog)
    assert log.path == tmp_path / "log"
    with pytest.raises(ValueError, match="journal"):
        create_source("journal", tmp_path / "log")


@pytest.mark.parametrize("source", list(Fail2banSourceKind))
def test_missing_path(tmp_path: Path, source: Fail2banSourceKind) -> None:
    with pytest.raises(Fail2banNotFoundError, match="does not exist"):
        probe(tmp_path / "nothing", source)


@pytest.mark.parametrize("source", list(Fail2banSourceKind))
def test_directory(tmp_path: Path, source: Fail2banSourceKind) -> None:
    with pytest.raises(NotFail2banError, match="is a directory"):
        probe(tmp_path, source)


@pytest.mark.parametrize("source", list(Fail2banSourceKind))
def test_special_files_are_refused_without_blocking(
    tmp_path: Path, source: Fail2banSourceKind
) -> None:
    fifo = tmp_path / "fail2ban.fifo"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer
    for path in (fifo, Path(os.devnull)):
        with pytest.raises(NotFail2banError, match="not a regular file"):
            probe(path, source)


@pytest.mark.parametrize("source", list(Fail2banSourceKind))
def test_path_that_cannot_be_opened(tmp_path: Path, source: Fail2banSourceKind) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(Fail2banError, match=r"cannot open .*symbolic links"):
        probe(loop, source)


def test_other_files_are_refused_without_quoting_them(tmp_path: Path, database: Path) -> None:
    other = tmp_path / "secrets.txt"
    other.write_text(f"password = {SECRET}\n" * 10)

    for source in Fail2banSourceKind:
        with pytest.raises(NotFail2banError) as caught:
            probe(other, source)
        assert SECRET not in str(caught.value)

    # fail2ban's database given as its log, and the other way round.
    with pytest.raises(NotFail2banError, match="does not look like a fail2ban log"):
        probe(database, "log")
    log = tmp_path / "fail2ban.log"
    log.write_text(f2b_line("[sshd] Ban 192.0.2.1"))
    with pytest.raises(NotFail2banError, match="not an SQLite database"):
        probe(log, "database")


def test_sqlite_database_of_another_program(tmp_path: Path) -> None:
    path = tmp_path / "home-assistant_v2.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE states(state TEXT)")
    connection.close()
    with pytest.raises(NotFail2banError, match="not a readable fail2ban database"):
        probe(path, "database")


@pytest.mark.parametrize("source", list(Fail2banSourceKind))
def test_unreadable_file(tmp_path: Path, database: Path, source: Fail2banSourceKind) -> None:
    # fail2ban writes its files 0600; as another user they cannot be read.
    path = database if source is Fail2banSourceKind.DATABASE else tmp_path / "fail2ban.log"
    path.touch()
    path.chmod(0o600)
    if os.geteuid() != 0:
        with pytest.raises(Fail2banPermissionError, match="may not be read"):
            probe(path, source)
        return
    # Root reads anything: probe as an unprivileged user in a child process instead.
    # The client module alone, without the integration package (which imports Home Assistant).
    code = textwrap.dedent(
        f"""
        import importlib.util, sys, types

        def load(name, path):
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            return module

        # Empty packages stand in for the integration's, so that relative imports resolve.
        for package in ("sentinel", "sentinel.fail2ban"):
            sys.modules[package] = types.ModuleType(package)
            sys.modules[package].__path__ = []
        load("sentinel.user_files", {str(CLIENT.parent.parent / "user_files.py")!r})
        client = load("sentinel.fail2ban.client", {str(CLIENT)!r})
        try:
            client.probe({str(path)!r}, {source.value!r})
        except client.Fail2banError as err:
            print(type(err).__name__, err)
        """
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code],
        user=65534,
        group=65534,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout.startswith("Fail2banPermissionError"), result.stdout + result.stderr
    assert "may not be read" in result.stdout
    assert issubclass(Fail2banPermissionError, Fail2banError)
