"""Whether a network that is trusted reaches beyond private and special-purpose addresses."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network

type Network = IPv4Network | IPv6Network

# Blocks none of whose addresses is globally reachable (IANA special-purpose registries), plus
# multicast: nobody logs in from those.
_NOT_PUBLIC: tuple[Network, ...] = tuple(
    ip_network(block)
    for block in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",
        "100::/64",
        "2001:db8::/32",
        "3fff::/20",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)
_IPV4_MAPPED = IPv6Network("::ffff:0:0/96")


def contains_public_address(network: Network) -> bool:
    """Whether any address of the network is public (globally reachable)."""
    if isinstance(network, IPv6Network) and network.subnet_of(_IPV4_MAPPED):
        mapped = IPv4Network((int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96))
        return contains_public_address(mapped)
    blocks = [block for block in _NOT_PUBLIC if block.version == network.version]
    if any(network.subnet_of(block) for block in blocks):  # type: ignore[arg-type]
        return False
    if not any(network.overlaps(block) for block in blocks):
        return True
    # Part of it is special-purpose: look at each half.
    return any(contains_public_address(half) for half in network.subnets())
