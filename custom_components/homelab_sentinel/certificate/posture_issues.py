"""The repair issues of a TLS endpoint's posture, each with the server lines that fix it."""

from __future__ import annotations

from ..repairs_support import WantedIssue
from .posture import PostureReport, TLSProtocol

_PROTOCOL_NAMES = {
    TLSProtocol.TLS1_0: "TLS 1.0",
    TLSProtocol.TLS1_1: "TLS 1.1",
    TLSProtocol.TLS1_2: "TLS 1.2",
    TLSProtocol.TLS1_3: "TLS 1.3",
}


def posture_issues(label: str, server_name: str, posture: PostureReport) -> dict[str, WantedIssue]:
    """The issues a posture calls for, keyed like the binary sensors that report them."""
    wanted: dict[str, WantedIssue] = {}
    if posture.protocols.legacy:
        wanted["legacy_tls"] = WantedIssue(
            "legacy_tls",
            {
                "name": label,
                "versions": ", ".join(
                    _PROTOCOL_NAMES[protocol] for protocol in posture.protocols.legacy_accepted
                ),
            },
        )
    plain = posture.plain_http
    if plain is not None and plain.problem:
        # The fix lines hold URLs and braces, which translations may not: they are placeholders.
        wanted["plain_http"] = WantedIssue(
            "plain_http",
            {
                "name": label,
                "status": str(plain.status),
                "location": plain.location or "-",
                "nginx": (
                    f"server {{ listen 80; server_name {server_name}; "
                    "return 301 https://$host$request_uri; }"
                ),
                "apache": (
                    f"<VirtualHost *:80> ServerName {server_name} "
                    f"Redirect permanent / https://{server_name}/ </VirtualHost>"
                ),
            },
        )
    return wanted
