"""The coordinator every monitored system builds on."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, Protocol

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_SCAN_INTERVAL, Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

from .const import CONF_KIND, DEFAULT_SCAN_INTERVAL, DOMAIN, LOGGER, Kind

type SentinelConfigEntry = ConfigEntry[SentinelCoordinator[Any]]

# A failed poll is retried after this long, then after twice as long each time, up to the scan
# interval, so that a blip does not leave entities unavailable for a whole interval.
FIRST_RETRY_SECONDS = 60.0


class SentinelData(Protocol):
    """What a coordinator's data offers: the repeating things it watches, by name.

    The name ``""`` is the one thing an entry watches when it watches a single thing; such a
    subject's entities sit on the entry's own device.
    """

    @property
    def subjects(self) -> Mapping[str, Any]:
        """The watched things (certificates, jails, backup jobs) by name."""


class SentinelCoordinator[DataT: SentinelData](DataUpdateCoordinator[DataT]):
    """Polls one monitored system for one config entry."""

    config_entry: SentinelConfigEntry
    # Entity descriptions by platform, set by each system's coordinator.
    descriptions: Mapping[Platform, tuple[Any, ...]] = {}
    device_model: str = ""
    subject_model: str = ""
    entry_device_id: str
    _device_subjects: frozenset[str] | None = None
    _failed_polls: int = 0
    _counted_failure: BaseException | None = None
    # Push-based kinds (heartbeat) are never polled: their data changes when something reports in.
    polled: ClassVar[bool] = True
    # What the listeners were last told, and what changed since (see subject_changed).
    _told_data: DataT | None = None
    _told_success: bool | None = None
    _changed_subjects: frozenset[str] | None = None
    _entry_data_changed: bool = True

    def __init__(self, hass: HomeAssistant, entry: SentinelConfigEntry) -> None:
        """Poll at the entry's scan interval, or the kind's default."""
        kind = Kind(entry.data[CONF_KIND])
        interval = entry.options.get(CONF_SCAN_INTERVAL)
        update_interval: timedelta | None = None
        if self.polled:
            update_interval = (
                timedelta(seconds=interval) if interval else DEFAULT_SCAN_INTERVAL[kind]
            )
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.title}",
            update_interval=update_interval,
        )

    @callback
    def _schedule_refresh(self) -> None:
        """Poll again sooner after a failure: 1 minute, then doubling, up to the interval."""
        if self.last_update_success:
            self._failed_polls = 0
        elif self.last_exception is not self._counted_failure:
            # Scheduling also happens without a poll (a first listener); count each failure once.
            self._counted_failure = self.last_exception
            self._failed_polls += 1
        interval = self._update_interval_seconds
        if not self.last_update_success and interval and self._retry_after is None:
            backoff = FIRST_RETRY_SECONDS * 2 ** min(max(self._failed_polls - 1, 0), 32)
            self._retry_after = min(backoff, interval)
        super()._schedule_refresh()

    @property
    def entry_device(self) -> DeviceInfo:
        """The device that stands for the whole entry."""
        return DeviceInfo(
            identifiers={(DOMAIN, self.config_entry.entry_id)},
            name=self.config_entry.title,
            manufacturer="Homelab Sentinel",
            model=self.device_model,
            entry_type=dr.DeviceEntryType.SERVICE,
        )

    def subject_name(self, subject: str) -> str:
        """The name of a subject's device: the subject itself, unless a kind knows better."""
        return subject

    def subject_device(self, subject: str) -> DeviceInfo:
        """The device of one repeating thing, below the entry's device."""
        if not subject:
            return self.entry_device
        return DeviceInfo(
            identifiers={(DOMAIN, f"{self.config_entry.entry_id}-{subject}")},
            name=self.subject_name(subject),
            manufacturer="Homelab Sentinel",
            model=self.subject_model,
            entry_type=dr.DeviceEntryType.SERVICE,
            via_device_id=self.entry_device_id,
        )

    @callback
    def async_register_entry_device(self) -> None:
        """Register the entry's device first, so that subject devices can sit below it."""
        device = dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.config_entry.entry_id, **self.entry_device
        )
        self.entry_device_id = device.id

    @callback
    def async_remove_stale_devices(self) -> None:
        """Remove the devices of subjects that are gone, and their entities with them."""
        if not self.last_update_success:
            return
        # The registry is only looked at when the set of subjects changed since the last poll.
        subjects = frozenset(self.data.subjects)
        if subjects == self._device_subjects:
            return
        self._device_subjects = subjects
        registry = dr.async_get(self.hass)
        current = {(DOMAIN, self.config_entry.entry_id)} | {
            (DOMAIN, f"{self.config_entry.entry_id}-{subject}") for subject in self.data.subjects
        }
        for device in dr.async_entries_for_config_entry(registry, self.config_entry.entry_id):
            if not device.identifiers & current:
                registry.async_remove_device(device.id)

    @callback
    def async_update_listeners(self) -> None:
        """Note which subjects changed since the listeners were last told, then tell them."""
        self._note_changes_since_told()
        super().async_update_listeners()

    def _note_changes_since_told(self) -> None:
        before, after = self._told_data, self.data
        success_changed = self._told_success != self.last_update_success
        self._told_data, self._told_success = after, self.last_update_success
        if before is None or after is None or success_changed:
            self._changed_subjects, self._entry_data_changed = None, True
            return
        if before is after:
            self._changed_subjects, self._entry_data_changed = frozenset(), False
            return
        old, new = before.subjects, after.subjects
        # Kinds hand out the same object for an unchanged subject, so most comparisons are cheap.
        self._changed_subjects = frozenset(
            name
            for name in old.keys() | new.keys()
            if (previous := old.get(name)) is not (current := new.get(name)) and previous != current
        )
        self._entry_data_changed = bool(self._changed_subjects) or before != after

    def subject_changed(self, subject: str | None) -> bool:
        """Whether a subject's data (None: the entry's) may differ from what listeners last saw.

        Entities skip their state write when it did not: a poll that changed nothing writes no
        state, and one that changed a jail writes only that jail's states.
        """
        if self._changed_subjects is None:
            return True
        if subject is None:
            return self._entry_data_changed
        return subject in self._changed_subjects
