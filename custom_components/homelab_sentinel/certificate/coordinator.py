"""Coordinators for the certificate and certificate_file kinds."""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from homeassistant.const import CONF_HOST, CONF_PATH, CONF_PORT
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.update_coordinator import UpdateFailed
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from ..certbot.coordinator import async_find_lineage, fix_data
from ..const import (
    CONF_CA_FILE,
    CONF_CHECK_PLAIN_HTTP,
    CONF_SERVER_NAME,
    CONF_STARTTLS,
    CONF_WARNING_DAYS,
    DEFAULT_CHECK_PLAIN_HTTP,
    DEFAULT_WARNING_DAYS,
    DOMAIN,
    MAX_CONCURRENT_CHECKS,
)
from ..coordinator import SentinelConfigEntry, SentinelCoordinator
from ..errors import ErrorKeys, error_key_in
from ..repairs_support import WantedIssue, async_sync_issues
from .client import (
    DEFAULT_TIMEOUT,
    CertificateConnectionError,
    CertificateError,
    CertificateFileReader,
    CertificateFileTooLargeError,
    CertificateNotFoundError,
    CertificatePathError,
    CertificatePermissionError,
    CertificateReport,
    CertificateTimeoutError,
    InvalidCAFileError,
    InvalidHostnameError,
    NoCertificateError,
    NotACertificateFileError,
    StartTLS,
    Trust,
    TrustStore,
    assess_chain,
    fetch_chain,
)
from .entities import CERTIFICATE_DESCRIPTIONS, POSTURE_KEYS, remote_certificate_descriptions
from .expiry import is_expiring, iso_duration, warning_threshold
from .issuer_fetch import IssuerFetcher, complete_chain
from .posture import PostureReport, probe_posture
from .posture_issues import posture_issues
from .renewal import RenewalEvent, RenewalTracker
from .served import OnDiskLeaf, StaleServed, async_on_disk_index, read_on_disk_leaves


@dataclass(frozen=True, slots=True)
class CertificateStatus:
    """One certificate as entities show it."""

    report: CertificateReport
    days_remaining: int
    problem: bool
    # The expiring threshold as an ISO 8601 duration (kept as text: diagnostics are JSON).
    threshold: str = ""
    expiring: bool = False
    missing_issuer: str | None = None
    stale_served: StaleServed | None = None
    renewals: tuple[RenewalEvent, ...] = ()
    # What a TLS endpoint offers besides its certificate; None for files.
    posture: PostureReport | None = None
    # The certbot entry whose own repair covers this certificate's expiry, when one does.
    repair_raised_by: str | None = None


@dataclass(frozen=True, slots=True)
class CertificateSnapshot:
    """Every certificate an entry watches, by name (``""`` for a single certificate)."""

    subjects: Mapping[str, CertificateStatus]


class _SharedCertificateState:
    """What every certificate entry shares: the system trust store and a bound on checks."""

    def __init__(self) -> None:
        self.checks = asyncio.Semaphore(MAX_CONCURRENT_CHECKS)
        self._system_store: TrustStore | None = None
        self._lock = asyncio.Lock()

    async def system_store(self, hass: HomeAssistant) -> TrustStore:
        async with self._lock:
            if self._system_store is None:
                self._system_store = await hass.async_add_executor_job(
                    TrustStore.from_files, certifi.where()
                )
            return self._system_store


_SHARED: HassKey[_SharedCertificateState] = HassKey(f"{DOMAIN}_certificates")


def _shared(hass: HomeAssistant) -> _SharedCertificateState:
    if _SHARED not in hass.data:
        hass.data[_SHARED] = _SharedCertificateState()
    return hass.data[_SHARED]


async def async_trust_store(hass: HomeAssistant, ca_file: str | None) -> TrustStore:
    """The system trust store, plus a PEM bundle when one is given."""
    store = await _shared(hass).system_store(hass)
    if ca_file:
        store = await hass.async_add_executor_job(store.with_extra_bundle, ca_file)
    return store


_ERROR_KEYS: ErrorKeys = (
    (CertificateTimeoutError, "timeout"),
    (InvalidHostnameError, "invalid_host"),
    (NoCertificateError, "no_certificate"),
    (CertificateConnectionError, "cannot_connect"),
    (InvalidCAFileError, "invalid_ca_file"),
    (CertificateNotFoundError, "not_found"),
    (CertificatePermissionError, "permission_denied"),
    (NotACertificateFileError, "not_regular_file"),
    (CertificateFileTooLargeError, "file_too_large"),
    (CertificatePathError, "invalid_file_path"),
    (CertificateError, "unreadable_certificate"),
)


def error_key(err: CertificateError) -> str:
    """The translation key, shared by flow errors and exceptions, that names an error."""
    return error_key_in(_ERROR_KEYS, err)


def _update_failed(err: CertificateError, placeholders: dict[str, str]) -> UpdateFailed:
    return UpdateFailed(
        translation_domain=DOMAIN,
        translation_key=error_key(err),
        translation_placeholders=placeholders,
    )


class _CertificateCoordinatorBase(SentinelCoordinator[CertificateSnapshot], ABC):
    descriptions = CERTIFICATE_DESCRIPTIONS
    subject_model = "Certificate"
    _store: TrustStore

    def __init__(self, hass: HomeAssistant, entry: SentinelConfigEntry) -> None:
        super().__init__(hass, entry)
        self.warning_days: int = entry.options.get(CONF_WARNING_DAYS, DEFAULT_WARNING_DAYS)
        self._renewals = RenewalTracker(hass, entry.entry_id)

    def _status(
        self,
        report: CertificateReport,
        now: datetime,
        *,
        missing_issuer: str | None = None,
        stale_served: StaleServed | None = None,
        posture: PostureReport | None = None,
    ) -> CertificateStatus:
        threshold = warning_threshold(report.not_before, report.expires, self.warning_days)
        expiring = is_expiring(report.expires, threshold, now)
        return CertificateStatus(
            report=report,
            days_remaining=report.days_remaining(now),
            problem=report.trust is not Trust.TRUSTED or expiring,
            threshold=iso_duration(threshold),
            expiring=expiring,
            missing_issuer=missing_issuer,
            stale_served=stale_served,
            posture=posture,
        )

    def _names(self, name: str, status: CertificateStatus) -> set[str]:
        """The names a certificate goes by: its subject name and the DNS names it carries."""
        return {name, *status.report.dns_names} - {""}

    def watched_names(self) -> set[str]:
        """Every name the watched certificates go by, for certbot entries that renew them."""
        if not self.last_update_success:
            return set()
        return {
            found
            for name, status in self.data.subjects.items()
            for found in self._names(name, status)
        }

    @callback
    def async_update_repairs(self) -> None:
        """Raise the repair issues again, e.g. because a certbot entry now manages a name."""
        if not self.last_update_success:
            return
        # Renewals belong to the poll that saw them: telling the entities again fires none.
        unfired = CertificateSnapshot(
            {name: replace(status, renewals=()) for name, status in self.data.subjects.items()}
        )
        if (snapshot := self._sync_repairs(unfired)) != unfired:
            self.async_set_updated_data(snapshot)

    def _expiry_issue(
        self, name: str, status: CertificateStatus
    ) -> tuple[WantedIssue | None, str | None]:
        """The expired or expiring issue of a certificate, or the certbot entry that raises it."""
        report = status.report
        if report.trust is not Trust.EXPIRED and not status.expiring:
            return None, None
        manager = async_find_lineage(self.hass, self._names(name, status))
        if manager is not None and manager[0].has_certificate_issue(manager[1]):
            # One problem, one repair: the certbot entry's own issue, which can renew it.
            certbot, lineage = manager
            return None, f"{certbot.config_entry.title} ({lineage})"
        # A certbot entry that manages the certificate makes the issue fixable: renew now.
        fix = fix_data(*manager) if manager else None
        renewable = "_renewable" if fix is not None else ""
        label = name or self.config_entry.title
        if report.trust is Trust.EXPIRED:
            return WantedIssue(
                f"certificate_expired{renewable}",
                {"name": label, "expires": report.expires.date().isoformat()},
                fixable=fix is not None,
                data=fix,
            ), None
        return WantedIssue(
            f"certificate_expiring{renewable}",
            {
                "name": label,
                "days": str(status.days_remaining),
                "expires": report.expires.date().isoformat(),
            },
            fixable=fix is not None,
            data=fix,
        ), None

    def _sync_repairs(self, snapshot: CertificateSnapshot) -> CertificateSnapshot:
        """Raise the repairs a snapshot calls for; the snapshot, with who raises which."""
        wanted: dict[str, WantedIssue] = {}
        subjects: dict[str, CertificateStatus] = {}
        for name, status in snapshot.subjects.items():
            label = name or self.config_entry.title
            expiry, raised_by = self._expiry_issue(name, status)
            if expiry is not None:
                wanted[f"certificate_{name}"] = expiry
            subjects[name] = (
                status
                if status.repair_raised_by == raised_by
                else replace(status, repair_raised_by=raised_by)
            )
            if status.missing_issuer is not None:
                wanted[f"incomplete_chain_{name}"] = WantedIssue(
                    "incomplete_chain", {"name": label, "missing_issuer": status.missing_issuer}
                )
            if status.stale_served is not None:
                wanted[f"stale_served_certificate_{name}"] = WantedIssue(
                    "stale_served_certificate",
                    {"name": label, **status.stale_served.attributes},
                )
            if status.posture is not None:
                wanted.update(posture_issues(label, self._server_name, status.posture))
        async_sync_issues(self.hass, self.config_entry, wanted)
        if all(subjects[name] is status for name, status in snapshot.subjects.items()):
            return snapshot
        return CertificateSnapshot(subjects)

    @property
    def _server_name(self) -> str:
        data = self.config_entry.data
        return str(data.get(CONF_SERVER_NAME) or data.get(CONF_HOST) or "")

    async def _async_update_data(self) -> CertificateSnapshot:
        async with _shared(self.hass).checks:
            snapshot = await self._async_read()
        renewals = await self._renewals.async_note(
            {name: status.report for name, status in snapshot.subjects.items()}
        )
        if renewals:
            snapshot = CertificateSnapshot(
                {
                    name: replace(status, renewals=(renewals[name],))
                    if name in renewals
                    else status
                    for name, status in snapshot.subjects.items()
                }
            )
        return self._sync_repairs(snapshot)

    @abstractmethod
    async def _async_read(self) -> CertificateSnapshot:
        """Read and judge the certificates once."""


class RemoteCertificateCoordinator(_CertificateCoordinatorBase):
    """Checks the certificate a TLS endpoint presents."""

    device_model = "TLS endpoint"

    def __init__(self, hass: HomeAssistant, entry: SentinelConfigEntry) -> None:
        """Offer the posture checks that apply; follow the certificate files' index."""
        super().__init__(hass, entry)
        self.starttls = StartTLS(entry.data.get(CONF_STARTTLS, StartTLS.NONE))
        self.check_plain_http: bool = entry.options.get(
            CONF_CHECK_PLAIN_HTTP, DEFAULT_CHECK_PLAIN_HTTP
        )
        self.descriptions = remote_certificate_descriptions(
            web=self.starttls is StartTLS.NONE, check_plain_http=self.check_plain_http
        )
        self._issuers = IssuerFetcher(lambda: async_get_clientsession(hass))
        self._served: tuple[CertificateReport, str | None, PostureReport | None] | None = None
        self._on_disk = async_on_disk_index(hass)
        entry.async_on_unload(self._on_disk.async_listen(self._async_reassess_served))
        self._recheck_stale: CALLBACK_TYPE | None = None
        entry.async_on_unload(self._cancel_stale_recheck)

    def _names(self, name: str, status: CertificateStatus) -> set[str]:
        data = self.config_entry.data
        return {data.get(CONF_SERVER_NAME) or data[CONF_HOST], *super()._names(name, status)}

    async def _async_setup(self) -> None:
        await self._renewals.async_load()
        try:
            self._store = await async_trust_store(
                self.hass, self.config_entry.data.get(CONF_CA_FILE)
            )
        except InvalidCAFileError as err:
            raise _update_failed(err, {"path": str(self.config_entry.data[CONF_CA_FILE])}) from err
        self._remove_skipped_posture_entities()

    def _remove_skipped_posture_entities(self) -> None:
        """Drop the entities of checks that no longer apply, e.g. port 80 switched off."""
        registry = er.async_get(self.hass)
        described = {
            description.key for platform in self.descriptions.values() for description in platform
        }
        for entity in er.async_entries_for_config_entry(registry, self.config_entry.entry_id):
            key = entity.unique_id.removeprefix(f"{self.config_entry.unique_id}-")
            if key in POSTURE_KEYS and key not in described:
                registry.async_remove(entity.entity_id)

    @callback
    def _cancel_stale_recheck(self) -> None:
        if self._recheck_stale is not None:
            self._recheck_stale()
            self._recheck_stale = None

    def _served_status(
        self,
        report: CertificateReport,
        missing_issuer: str | None,
        posture: PostureReport | None,
        now: datetime,
    ) -> CertificateStatus:
        # A file renewed less than an hour ago is judged again when its hour is up, not only at
        # the next poll.
        self._cancel_stale_recheck()
        # A poll that ends after the entry unloaded leaves no timer behind.
        if (
            not self._shutdown_requested
            and (recheck := self._on_disk.stale_from(report, now)) is not None
        ):
            self._recheck_stale = async_track_point_in_utc_time(
                self.hass, self._async_stale_recheck, recheck + timedelta(seconds=1)
            )
        return self._status(
            report,
            now,
            missing_issuer=missing_issuer,
            stale_served=self._on_disk.stale(report, now),
            posture=posture,
        )

    @callback
    def _async_stale_recheck(self, _now: datetime) -> None:
        self._recheck_stale = None
        self._async_reassess_served()

    @callback
    def _async_reassess_served(self) -> None:
        """A certificate file entry changed: judge the last served certificate against it."""
        if self._served is None or not self.last_update_success:
            return
        snapshot = self._sync_repairs(
            CertificateSnapshot({"": self._served_status(*self._served, dt_util.utcnow())})
        )
        if snapshot != self.data:
            self.async_set_updated_data(snapshot)

    async def _async_read(self) -> CertificateSnapshot:
        data = self.config_entry.data
        host: str = data[CONF_HOST]
        server_name: str = data.get(CONF_SERVER_NAME) or host
        placeholders = {"host": host, "port": str(data[CONF_PORT])}
        # The posture probes run beside the certificate's own handshake, within its time budget.
        posture = asyncio.create_task(
            probe_posture(
                host,
                data[CONF_PORT],
                server_name=server_name,
                starttls=self.starttls,
                check_plain_http=self.check_plain_http,
                timeout_seconds=DEFAULT_TIMEOUT,
            )
        )
        try:
            chain = await fetch_chain(
                host, data[CONF_PORT], server_name=server_name, starttls=self.starttls
            )
            now = dt_util.utcnow()
            report = assess_chain(chain, self._store, server_name, now)
            report, missing_issuer = await complete_chain(
                self._issuers, chain, report, self._store, server_name, now
            )
            self._issuers.forget_others({chain[0].fingerprint(hashes.SHA256())})
            self._served = (report, missing_issuer, await posture)
        except CertificateError as err:
            raise _update_failed(err, placeholders) from err
        finally:
            # Nothing to report on an endpoint whose certificate cannot be read or judged.
            posture.cancel()
        return CertificateSnapshot({"": self._served_status(*self._served, now)})


class FileCertificateCoordinator(_CertificateCoordinatorBase):
    """Reads certificates from a PEM file or a directory of them."""

    device_model = "Certificate files"

    def __init__(self, hass: HomeAssistant, entry: SentinelConfigEntry) -> None:
        """Publish the leaves read to the index endpoints compare with."""
        super().__init__(hass, entry)
        self._on_disk = async_on_disk_index(hass)
        entry.async_on_unload(lambda: self._on_disk.async_withdraw(entry.entry_id))

    async def _async_setup(self) -> None:
        await self._renewals.async_load()
        self._reader = CertificateFileReader(self.config_entry.data[CONF_PATH])
        self._store = await async_trust_store(self.hass, None)

    def _read(self) -> dict[str, list[x509.Certificate]]:
        return self._reader.read()

    def _read_with_times(self) -> tuple[dict[str, list[x509.Certificate]], tuple[OnDiskLeaf, ...]]:
        chains = self._read()
        leaves = read_on_disk_leaves(self._reader.path, self.config_entry.title, chains)
        return chains, leaves

    async def _async_read(self) -> CertificateSnapshot:
        path = str(Path(self.config_entry.data[CONF_PATH]))
        try:
            chains, leaves = await self.hass.async_add_executor_job(self._read_with_times)
        except CertificateError as err:
            raise _update_failed(err, {"path": path}) from err
        if not self._shutdown_requested:
            # A poll that ends after the entry unloaded must not put its files back.
            self._on_disk.async_publish(self.config_entry.entry_id, leaves)
        now = dt_util.utcnow()
        return CertificateSnapshot(
            {
                name: self._status(assess_chain(chain, self._store, None, now), now)
                for name, chain in chains.items()
            }
        )
