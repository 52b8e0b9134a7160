"""Benchmark the home_assistant kind's two costs that grow with what a user or an attacker does.

Run with `scripts/run python benchmarks/home_assistant.py`. It reports:

* the plain-text secrets scan of a generated configuration (a 5,000-automation
  `automations.yaml` and 300 packages of 50 entries each): the first scan, and a scan when nothing
  changed (each file is only stat()ed);
* the failed-login window under attack: 20,000 failures, each from a new address, each counted,
  expired and summarised as the entry does when Home Assistant reports it, with the window at its
  bound of 4,096 (address, minute) pairs; and the size of what is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
import json
from pathlib import Path
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from homeassistant.util.network import is_local

from custom_components.homelab_sentinel.home_assistant.logins import (
    FailedLoginWindow,
)
from custom_components.homelab_sentinel.home_assistant.secrets_scan import (
    ConfigurationScanner,
)


def _configuration(root: Path) -> int:
    (root / "configuration.yaml").write_text(
        "homeassistant:\n  packages: !include_dir_named packages\n"
        "automation: !include automations.yaml\n"
    )
    (root / "packages").mkdir()
    for index in range(300):
        (root / "packages" / f"package_{index}.yaml").write_text(
            "".join(
                f"sensor_{entry}:\n  name: x{entry}\n  token: !secret t\n  options: [a, b]\n"
                for entry in range(50)
            )
        )
    (root / "automations.yaml").write_text(
        "".join(
            f"- alias: a{entry}\n  trigger: {{platform: state, entity_id: s.{entry}}}\n"
            "  action: [{service: x.y}]\n"
            for entry in range(5000)
        )
    )
    return sum(path.stat().st_size for path in root.rglob("*.yaml"))


def main() -> None:
    """Run both benchmarks and print their figures."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        size = _configuration(root)
        scanner = ConfigurationScanner(root)
        started = time.perf_counter()
        report = scanner.scan()
        first = time.perf_counter() - started
        again = []
        for _ in range(5):
            started = time.perf_counter()
            scanner.scan()
            again.append(time.perf_counter() - started)
        print(
            f"secrets scan, {report.files} files, {size / 1e6:.1f} MB: first "
            f"{first * 1000:.0f} ms, unchanged {statistics.median(again) * 1000:.1f} ms (median)"
        )

    window = FailedLoginWindow(is_local)
    now = datetime.now(UTC)
    addresses = [
        ip_address(f"198.51.{i // 256 % 256}.{i % 256}")
        if i % 2
        else ip_address(f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}")
        for i in range(20000)
    ]
    started = time.perf_counter()
    for index, address in enumerate(addresses):
        when = now + timedelta(milliseconds=50 * index)
        window.add(address, when)
        window.expire(when)
        window.summary()
    elapsed = time.perf_counter() - started
    stored = len(json.dumps(window.as_dict()))
    print(
        f"failed-login window, 20,000 failures from new addresses: "
        f"{elapsed / len(addresses) * 1e6:.0f} µs per failure; stored {stored / 1024:.0f} KiB"
    )


if __name__ == "__main__":
    main()
