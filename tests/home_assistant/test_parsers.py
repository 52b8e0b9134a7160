"""The HA-free parts of the home_assistant kind: files, networks, bans, logins, YAML secrets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from ipaddress import ip_address, ip_network
from pathlib import Path
import random
from typing import Any

from homeassistant.util.network import is_local
import pytest

from custom_components.homelab_sentinel.home_assistant import logins, secrets_scan
from custom_components.homelab_sentinel.home_assistant.bans import (
    Ban,
    BansFileError,
    BanTracker,
    parse_bans,
    read_bans,
)
from custom_components.homelab_sentinel.home_assistant.logins import (
    FailedLoginWindow,
    address_in_notification,
)
from custom_components.homelab_sentinel.home_assistant.networks import contains_public_address
from custom_components.homelab_sentinel.home_assistant.secrets_scan import (
    ConfigurationError,
    ConfigurationScanner,
    names_a_secret,
)

from .conftest import write

SECRET = "S3cret-inline-value"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)

# ---------------------------------------------------------------------------------------------
# Public networks


@pytest.mark.parametrize(
    ("network", "public"),
    [
        ("0.0.0.0/0", True),
        ("::/0", True),
        ("8.8.8.0/24", True),
        ("2a00:1450::/32", True),
        ("192.168.0.0/23", False),
        ("192.168.0.0/15", True),
        ("10.0.0.0/8", False),
        ("172.30.33.0/24", False),
        ("127.0.0.1/32", False),
        ("100.64.0.0/10", False),
        ("fd00::/8", False),
        ("fe80::/10", False),
        ("::1/128", False),
        ("::ffff:10.0.0.0/104", False),
        ("::ffff:0:0/96", True),
        ("192.0.0.0/23", True),
    ],
)
def test_contains_public_address(network: str, public: bool) -> None:
    assert contains_public_address(ip_network(network)) is public


# ---------------------------------------------------------------------------------------------
# ip_bans.yaml


BANS = """
203.0.113.5:
  banned_at: '2026-12-01T10:00:00+00:00'

2001:db8::7:
  banned_at: '2026-12-02T10:00:00'
not-an-address:
  banned_at: '2026-12-03T10:00:00+00:00'
198.51.100.9: {}
198.51.100.10:
  banned_at: yesterday
198.51.100.11:
  banned_at: 2026-12-04 10:00:00
"""


def test_parse_bans() -> None:
    bans = parse_bans(BANS.encode())
    assert [ban.ip for ban in bans] == [
        "198.51.100.11",
        "2001:db8::7",
        "203.0.113.5",
        "198.51.100.9",
        "198.51.100.10",
    ]
    assert bans[1].banned_at == datetime(2026, 12, 2, 10, tzinfo=UTC)
    assert bans[3].banned_at is None
    assert parse_bans(b"") == []
    with pytest.raises(BansFileError, match="not a mapping"):
        parse_bans(b"- 203.0.113.5\n")
    with pytest.raises(BansFileError):
        parse_bans(b"203.0.113.5: [\n")


def test_read_bans(tmp_path: Path) -> None:
    assert read_bans(tmp_path / "ip_bans.yaml") == []
    (tmp_path / "ip_bans.yaml").write_text(BANS)
    assert len(read_bans(tmp_path / "ip_bans.yaml")) == 5
    with pytest.raises(BansFileError):
        read_bans(tmp_path)


def test_ban_tracker() -> None:
    old = Ban("203.0.113.5", NOW - timedelta(days=1))
    new = Ban("203.0.113.6", NOW)
    undated = Ban("203.0.113.7", None)
    tracker = BanTracker()
    # The first look reports nothing: those bans predate the entry.
    assert tracker.update([old]) == ([], True)
    assert tracker.update([old]) == ([], False)
    assert tracker.update([new, undated, old]) == ([undated, new], True)
    # Lifted, then banned again: new again.
    assert tracker.update([new, undated]) == ([], True)
    assert tracker.update([new, undated, old]) == ([old], True)
    assert BanTracker(tracker.seen).update([new, undated, old]) == ([], False)


# ---------------------------------------------------------------------------------------------
# Failed logins


def test_address_in_notification() -> None:
    message = (
        "Login attempt or request with invalid authentication from {} ({})."
        " See the log for details."
    )
    assert address_in_notification(message.format("localhost", "127.0.0.1")) == ip_address(
        "127.0.0.1"
    )
    assert address_in_notification(message.format("x", "2001:db8::1")) == ip_address("2001:db8::1")
    # Reverse DNS is anyone's to set: only the address at the very end counts.
    spoofed = message.format("evil (10.0.0.1). See the log for details. x", "203.0.113.5")
    assert address_in_notification(spoofed) == ip_address("203.0.113.5")
    assert address_in_notification(message.format("h", "999.1.1.1")) is None
    assert address_in_notification("Something else entirely") is None


def test_failed_login_window(monkeypatch: pytest.MonkeyPatch) -> None:
    window = FailedLoginWindow(is_local)
    window.add(ip_address("203.0.113.5"), NOW - timedelta(hours=23))
    window.add(ip_address("203.0.113.5"), NOW - timedelta(hours=23) + timedelta(seconds=1))
    window.add(ip_address("192.168.1.10"), NOW - timedelta(hours=1))
    window.add(ip_address("203.0.113.5"), NOW)
    summary = window.summary()
    assert (summary.total, summary.external) == (4, 3)
    assert [(a.ip, a.count, a.local) for a in summary.addresses] == [
        ("203.0.113.5", 3, False),
        ("192.168.1.10", 1, True),
    ]
    assert summary.addresses[0].last_at == NOW
    assert window.expire(NOW) is False
    # A minute leaves the window once it has wholly passed 24 hours ago.
    assert window.expire(NOW + timedelta(hours=1, seconds=59)) is False
    assert window.expire(NOW + timedelta(hours=1, seconds=61)) is True
    assert window.summary().total == 2
    assert window.summary().external == 1

    restored = FailedLoginWindow(is_local)
    restored.load(window.as_dict())
    assert restored.summary() == window.summary()
    stored = window.as_dict()["buckets"]
    restored.load({"buckets": [["nonsense"], ["203.0.113.9", "x", 1, "now"], stored[0]]})
    restored.load({"buckets": [["203.0.113.9", 1, 0, NOW.isoformat()]]})
    assert restored.summary() == window.summary()
    # Every failure of an address gone: the address is gone.
    restored.expire(NOW + timedelta(days=2))
    assert restored.summary() == logins.FailedLoginSummary(0, 0, ())
    FailedLoginWindow(is_local).load(None)

    # A failure reported late does not move the last one back.
    late = FailedLoginWindow(is_local)
    late.add(ip_address("203.0.113.5"), NOW)
    late.add(ip_address("203.0.113.5"), NOW - timedelta(minutes=1))
    assert late.summary().addresses[0].last_at == NOW

    # Whatever an attacker sends, the window stays bounded; the oldest minutes go first.
    monkeypatch.setattr(logins, "MAX_BUCKETS", 50)
    bounded = FailedLoginWindow(is_local)
    for index in range(200):
        bounded.add(ip_address(f"198.51.100.{index}"), NOW + timedelta(seconds=index))
    summary = bounded.summary()
    assert summary.total == 50
    assert len(summary.addresses) == logins.MAX_LISTED_ADDRESSES
    assert summary.addresses[0].ip == "198.51.100.199"


def test_failed_login_window_matches_a_recount(monkeypatch: pytest.MonkeyPatch) -> None:
    """The totals and busiest addresses, kept as failures come and go, are a full recount's."""
    monkeypatch.setattr(logins, "MAX_BUCKETS", 300)
    rng = random.Random(17)  # noqa: S311 - a reproducible sequence, not a secret
    window = FailedLoginWindow(is_local)
    failures: list[tuple[str, datetime]] = []
    when = NOW
    for step in range(3000):
        when += timedelta(seconds=rng.choice((1, 5, 30, 600)))
        address = rng.choice(
            (
                "203.0.113.5",
                "192.168.1.2",
                f"198.51.100.{rng.randint(0, 60)}",
                f"10.0.{step // 256}.{step % 256}",
            )
        )
        window.add(ip_address(address), when)
        failures.append((address, when))
        window.expire(when)
        if step % 97:
            continue
        # The recount: failures of the minutes still held.
        held = {(ip, minute) for ip, minute, _, _ in window.as_dict()["buckets"]}
        kept = [(ip, at) for ip, at in failures if (ip, int(at.timestamp()) // 60) in held]
        per_address: dict[str, list[Any]] = {}
        for ip, at in kept:
            entry = per_address.setdefault(ip, [0, at])
            entry[0] += 1
            entry[1] = max(entry[1], at)
        expected = sorted(
            per_address.items(), key=lambda item: (-item[1][0], -item[1][1].timestamp(), item[0])
        )[: logins.MAX_LISTED_ADDRESSES]
        summary = window.summary()
        assert summary.total == len(kept)
        assert summary.external == sum(1 for ip, _ in kept if not is_local(ip_address(ip)))
        assert [(a.ip, a.count, a.last_at) for a in summary.addresses] == [
            (ip, count, last) for ip, (count, last) in expected
        ]


# ---------------------------------------------------------------------------------------------
# Secrets in the YAML configuration


def test_names_a_secret() -> None:
    assert names_a_secret("password")
    assert names_a_secret("MQTT_Password")
    assert names_a_secret("api_key")
    assert names_a_secret("github_token")
    assert not names_a_secret("ssl_key")
    assert not names_a_secret("max_tokens")
    assert not names_a_secret("username")


def _tree(root: Path) -> None:
    write(
        root / "configuration.yaml",
        "homeassistant:\n"
        "  name: Home\n"
        "  packages: !include_dir_named packages\n"
        "http: !include http.yaml\n"
        "mqtt:\n"
        "  username: ha\n"
        "  password: !secret mqtt_password\n"
        "sensor: !include_dir_merge_list sensors\n"
        "notify: !include_dir_list notify\n"
        "scene: !include_dir_merge_named scenes\n"
        "shell_command:\n"
        "  token: \"{{ states('input_text.token') }}\"\n"
        "  env_token: !env_var GITHUB_TOKEN\n"
        "  empty_password: ''\n"
        "  key_file:\n"
        "    private_key: /ssl/privkey.pem\n"
        "anchors:\n"
        "  base: &base\n"
        f"    api_key: {SECRET}\n"
        "  copy: *base\n"
        "outside: !include ../outside.yaml\n"
        "wifi_password: !include wifi.txt\n"
        "missing_dir: !include_dir_list nowhere\n",
    )
    write(root / "http.yaml", f"ssl_key: /ssl/key.pem\napi_password: {SECRET}\n")
    write(root / "wifi.txt", f"{SECRET}\n")
    write(root / "secrets.yaml", f"mqtt_password: {SECRET}\n")
    write(
        root / "packages" / "garage.yaml",
        f"rest_command:\n  open:\n    url: http://garage\n    password: {SECRET}\n",
    )
    write(root / "packages" / "secrets.yaml", f"password: {SECRET}\n")
    write(root / "packages" / ".hidden.yaml", f"password: {SECRET}\n")
    write(root / "packages" / ".git" / "x.yaml", f"password: {SECRET}\n")
    write(root / "packages" / "sub" / "deep.yaml", "client_secret: 12345\n")
    write(root / "sensors" / "a.yaml", f"- platform: x\n  token: {SECRET}\n  pin: 1\n")
    write(root / "notify" / "b.yaml", "platform: y\nwebhook_id: !secret hook\n")
    write(root / "scenes" / "c.yaml", "morning:\n  secret: [one, !secret two]\n")
    write(root.parent / "outside.yaml", f"password: {SECRET}\n")


def test_scan_finds_inline_secrets(tmp_path: Path) -> None:
    root = tmp_path / "config"
    _tree(root)
    report = ConfigurationScanner(root).scan()
    assert list(report.locations) == [
        "configuration.yaml:19 api_key",
        "packages/garage.yaml:4 password",
        "packages/sub/deep.yaml:1 client_secret",
        "http.yaml:2 api_password",
        "sensors/a.yaml:2 token",
        "scenes/c.yaml:2 secret",
        "wifi.txt:1 wifi_password",
    ]
    assert SECRET not in repr(report)
    # Outside the configuration directory, hidden files and secrets.yaml are not read.
    assert report.files == 8


def test_scan_reads_only_what_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "config"
    _tree(root)
    scanner = ConfigurationScanner(root)
    first = scanner.scan()
    reads: list[Path] = []
    real_read = secrets_scan.read_user_file  # type: ignore[attr-defined]

    def counting_read(path: Path, limit: int) -> bytes:
        reads.append(path)
        return real_read(path, limit)

    monkeypatch.setattr(secrets_scan, "read_user_file", counting_read)
    assert scanner.scan() == first
    assert reads == []
    write(root / "http.yaml", "ssl_key: /ssl/key.pem\n")
    second = scanner.scan()
    assert reads == [(root / "http.yaml").resolve()]
    assert "http.yaml:2 api_password" not in second.locations
    # A file no longer included is forgotten.
    write(root / "configuration.yaml", "homeassistant:\n")
    assert scanner.scan().locations == ()
    assert len(scanner._cache) == 1


def test_scan_reports_broken_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "config"
    write(root / "configuration.yaml", "automation: !include automations.yaml\n")
    write(root / "automations.yaml", f"- alias: x\n  password: {SECRET}\n  bad: [\n")
    with pytest.raises(ConfigurationError) as caught:
        ConfigurationScanner(root).scan()
    assert caught.value.location == "automations.yaml:4"
    assert SECRET not in str(caught.value)

    write(root / "automations.yaml", "\x00\x01")
    with pytest.raises(ConfigurationError) as caught:
        ConfigurationScanner(root).scan()
    assert caught.value.location.startswith("automations.yaml")

    (root / "automations.yaml").write_bytes(b"a: \xff\n")
    with pytest.raises(ConfigurationError):
        ConfigurationScanner(root).scan()

    (root / "automations.yaml").unlink()
    with pytest.raises(ConfigurationError) as caught:
        ConfigurationScanner(root).scan()
    assert caught.value.location == "automations.yaml"

    (root / "automations.yaml").mkdir()
    with pytest.raises(ConfigurationError, match="is a directory"):
        ConfigurationScanner(root).scan()

    write(root / "configuration.yaml", "")
    assert ConfigurationScanner(root).scan().locations == ()

    monkeypatch.setattr(secrets_scan, "MAX_FILES", 1)
    write(root / "configuration.yaml", "a: !include a.yaml\n")
    write(root / "a.yaml", "b: 1\n")
    with pytest.raises(ConfigurationError, match="too many included files"):
        ConfigurationScanner(root).scan()
