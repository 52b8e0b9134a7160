"""certificate_file entries read the path as given, so certbot's live/ link follows renewals."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homelab_sentinel.certificate.migration import live_link_for
from custom_components.homelab_sentinel.certificate.served import (
    certificate_source,
    read_on_disk_leaves,
)
from custom_components.homelab_sentinel.const import DOMAIN

from ..states import state_of
from .certs import Issued, make_leaf
from .conftest import days_from_now
from .helpers import FiredEvents, setup_file


def _archive(root: Path, name: str, issued: Issued, number: int) -> Path:
    archive = root / "archive" / name / f"fullchain{number}.pem"
    archive.parent.mkdir(parents=True, exist_ok=True)
    archive.write_bytes(issued.pem_chain())
    return archive


def _link(root: Path, name: str, number: int) -> Path:
    link = root / "live" / name / "fullchain.pem"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink():
        link.unlink()
    link.symlink_to(Path("../../archive") / name / f"fullchain{number}.pem")
    return link


def _old_entry(hass: HomeAssistant, path: Path, title: str | None = None) -> MockConfigEntry:
    """An entry as versions before 1.2 stored it: the resolved path."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=title or str(path),
        unique_id=f"file:{path}",
        data={"kind": "certificate_file", "path": str(path)},
        version=1,
        minor_version=1,
    )
    entry.add_to_hass(hass)
    return entry


async def test_old_entry_on_an_archive_file_reads_the_live_link_again(
    hass: HomeAssistant, tmp_path: Path, test_ca: Issued
) -> None:
    first = make_leaf(["service.test"], issuer=test_ca, not_after=days_from_now(20))
    archived = _archive(tmp_path, "service.test", first, 1)
    link = _link(tmp_path, "service.test", 1)
    entry = _old_entry(hass, archived)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    registry = er.async_get(hass)
    expires_id = registry.async_get_entity_id("sensor", DOMAIN, f"file:{archived}-expires")
    renewal_id = registry.async_get_entity_id("event", DOMAIN, f"file:{archived}-renewal")
    assert expires_id is not None
    assert renewal_id is not None
    events = FiredEvents(hass, renewal_id)
    assert entry.minor_version == 2
    assert entry.data == {"kind": "certificate_file", "path": str(link)}
    assert entry.title == str(link)
    # The unique_id still names the file the link resolved to when the entry was made.
    assert entry.unique_id == f"file:{archived}"

    # certbot renews: a new archive file, the link moved. The entry sees it at its next poll.
    second = make_leaf(["service.test"], issuer=test_ca, not_after=days_from_now(90))
    _archive(tmp_path, "service.test", second, 2)
    _link(tmp_path, "service.test", 2)
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    expires = state_of(hass, expires_id)
    assert expires == second.certificate.not_valid_after_utc.isoformat()
    assert [event["expires"] for event in events.fired] == [expires]


async def test_old_entries_left_alone_where_no_live_link_stands_for_them(
    hass: HomeAssistant, tmp_path: Path, test_ca: Issued
) -> None:
    leaf = make_leaf(["service.test"], issuer=test_ca)
    # The link has moved on to a newer file: the stored one was chosen as it is.
    moved = _archive(tmp_path / "moved", "a.test", leaf, 1)
    _archive(tmp_path / "moved", "a.test", leaf, 2)
    _link(tmp_path / "moved", "a.test", 2)
    # No live/ directory at all.
    lonely = _archive(tmp_path / "lonely", "b.test", leaf, 1)
    # live/ holds a copy, not a link.
    copied = _archive(tmp_path / "copied", "c.test", leaf, 1)
    copy = tmp_path / "copied" / "live" / "c.test" / "fullchain.pem"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(leaf.pem_chain())
    # Not certbot's layout.
    plain = tmp_path / "server.pem"
    plain.write_bytes(leaf.pem_chain())
    entries = {
        path: _old_entry(hass, path, title=f"title {index}")
        for index, path in enumerate((moved, lonely, copied, plain))
    }
    # Setting up the integration sets up every entry.
    assert await hass.config_entries.async_setup(entries[moved].entry_id)
    await hass.async_block_till_done()
    for path, entry in entries.items():
        assert entry.state is ConfigEntryState.LOADED
        assert entry.data["path"] == str(path)
        assert entry.minor_version == 2


async def test_renamed_old_entry_keeps_its_title(
    hass: HomeAssistant, tmp_path: Path, test_ca: Issued
) -> None:
    archived = _archive(tmp_path, "service.test", make_leaf(["a.test"], issuer=test_ca), 3)
    link = _link(tmp_path, "service.test", 3)
    entry = _old_entry(hass, archived, title="my proxy")
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.data["path"] == str(link)
    assert entry.title == "my proxy"


async def test_entries_from_a_newer_version_are_refused(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        data={"kind": "certificate_file", "path": str(tmp_path)},
        version=2,
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.MIGRATION_ERROR


@pytest.mark.parametrize(
    "stored",
    [
        "/etc/letsencrypt/archive/a.test/fullchain.pem",
        "/etc/letsencrypt/archive/a.test/fullchain1.crt",
        "/etc/letsencrypt/archive/a.test/1.pem",
        "/etc/letsencrypt/other/a.test/fullchain1.pem",
        "fullchain1.pem",
    ],
)
def test_only_certbot_archive_files_have_a_live_link(stored: str) -> None:
    assert live_link_for(stored) is None


async def test_renewal_store_removed_with_the_entry(
    hass: HomeAssistant, tmp_path: Path, test_ca: Issued, hass_storage: dict[str, object]
) -> None:
    certificate = tmp_path / "server.pem"
    certificate.write_bytes(make_leaf(["a.test"], issuer=test_ca).pem_chain())
    entry = await setup_file(hass, certificate)
    key = f"{DOMAIN}.certificate.{entry.entry_id}"
    assert key in hass_storage
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


def _leaf_without_names() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "no names")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(days_from_now(-1))
        .not_valid_after(days_from_now(30))
        .sign(key, hashes.SHA256())
    )


def test_on_disk_leaves_skip_what_cannot_be_matched(tmp_path: Path, test_ca: Issued) -> None:
    named = make_leaf(["a.test"], issuer=test_ca).certificate
    (tmp_path / "loose.crt").write_bytes(make_leaf(["b.test"], issuer=test_ca).pem_chain())
    (tmp_path / "nameless.pem").write_bytes(b"")
    leaves = read_on_disk_leaves(
        tmp_path,
        "files",
        {
            "loose": [named],
            "gone": [named],
            "nameless": [_leaf_without_names()],
        },
    )
    assert [leaf.file for leaf in leaves] == [str(tmp_path / "loose.crt")]
    assert leaves[0].names == frozenset({"a.test"})
    # A single file that vanished between reading and looking at its time.
    assert read_on_disk_leaves(tmp_path / "missing.pem", "file", {"": [named]}) == ()
    assert certificate_source(tmp_path / "missing.pem", "") == tmp_path / "missing.pem"
