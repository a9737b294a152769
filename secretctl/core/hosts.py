"""Network destinations a rule allows (pure): ``host``, ``host:port``, ``[v6]:port``, ``*.domain:port``.

A host without a port allows 80 and 443. Only a leading ``*.`` is a wildcard, and it matches
subdomains only. Names are compared as written (lower case, no trailing dot): the proxy
resolves an allowed name itself, so the command never chooses the address.
"""

from __future__ import annotations

import ipaddress

from secretctl.core.frozen import frozen


@frozen
class HostRule:
    host: str
    port: int | None  # None: 80 and 443

    def allows(self, host: str, port: int) -> bool:
        host = host.lower().rstrip(".")
        if (port not in (80, 443)) if self.port is None else (port != self.port):
            return False
        if self.host.startswith("*."):
            return host.endswith(self.host[1:]) and len(host) > len(self.host) - 1
        return host == self.host


def parse_host(text: str) -> HostRule:
    """Raises ValueError with a one-line reason."""
    t = text.strip().lower()
    port: int | None = None
    try:
        if t.startswith("["):
            host, sep, rest = t[1:].partition("]")
            if not sep or (rest and not rest.startswith(":")):
                raise ValueError
            port = int(rest[1:]) if rest else None
            ipaddress.IPv6Address(host)
        elif t.count(":") == 1:
            host, p = t.split(":")
            port = int(p)
        elif ":" in t:
            raise ValueError
        else:
            host = t
    except ValueError:
        raise ValueError(f"not a host or host:port (write IPv6 as [addr]:port): {text!r}") from None
    host = host.rstrip(".")
    if not host or any(c in host for c in "/@ \t\\"):
        raise ValueError(f"not a host name: {text!r}")
    if "*" in host and not (host.startswith("*.") and "*" not in host[2:] and len(host) > 2):
        raise ValueError(f"only a leading *. is a wildcard: {text!r}")
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"port out of range: {text!r}")
    return HostRule(host, port)
