"""The OS keyring (macOS Keychain, the Secret Service of GNOME/KDE, Windows Credential Locker),
through the optional `keyring` package: the only module that imports it.

`secretctl unlock --keyring` keeps the identity's passphrase here, so a login session can start
the unlock agent without a prompt. Off by default: it trades "a passphrase only you know" for
"whoever runs code in your unlocked login session" (docs/security.md). The entry is named by
the service ``secretctl`` and the identity file's absolute path, so two identities keep two
entries; it never holds the key itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from secretctl.errors import IdentityError, UsageError

SERVICE = "secretctl"
HINT_INSTALL = "install it with `pip install 'secretctl[keyring]'`, or unlock without --keyring"


def _backend() -> Any:
    """The keyring backend, or a UsageError naming why there is none."""
    try:
        # Lazily: an optional dependency, and its import (entry points, backends) costs ~50 ms.
        import keyring
        from keyring.backends import fail
    except ImportError:
        raise UsageError("--keyring needs the keyring package, which is not installed", hint=HINT_INSTALL) from None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 1) <= 0:
        raise UsageError(f"no usable OS keyring here ({type(backend).__name__})",
                         hint="start a Secret Service (gnome-keyring, KWallet) in your session, "
                              "or unlock without --keyring")
    return backend


def _user(identity_path: Path) -> str:
    return str(identity_path.resolve())


def _translated(what: str, exc: Exception) -> IdentityError:
    # The keyring's own message may quote what it was given: only the type goes out.
    return IdentityError(f"the OS keyring refused to {what} ({type(exc).__name__})",
                         hint="unlock it (log in to your keyring), or unlock without --keyring")


def get(identity_path: Path) -> str | None:
    """The passphrase kept for ``identity_path``, or None when none is kept."""
    backend = _backend()
    try:
        value = backend.get_password(SERVICE, _user(identity_path))
    except Exception as exc:
        raise _translated("read the passphrase", exc) from None
    return value if isinstance(value, str) and value else None


def put(identity_path: Path, passphrase: str) -> None:
    backend = _backend()
    try:
        backend.set_password(SERVICE, _user(identity_path), passphrase)
    except Exception as exc:
        raise _translated("store the passphrase", exc) from None


def forget(identity_path: Path) -> bool:
    """Remove the kept passphrase; False when there was none (or no keyring package at all)."""
    try:
        backend = _backend()
    except UsageError:
        return False
    try:
        if backend.get_password(SERVICE, _user(identity_path)) is None:
            return False
        backend.delete_password(SERVICE, _user(identity_path))
    except Exception as exc:
        raise _translated("remove the passphrase", exc) from None
    return True
