"""SHA-1 and SHA-256 from CPython's own modules (pure core), for hashes of a few hundred bytes:
a recipients fingerprint, an access-log line, a commit object read back. Importing hashlib
loads OpenSSL: ~2 ms and 11 M instructions of every `set` and every hook git starts."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # the same constructors, typed (the private modules have no stubs)
    from hashlib import sha1, sha256
else:
    try:
        from _sha256 import sha256  # CPython 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # CPython 3.12 and later
        except ImportError:  # another Python: hashlib's
            from hashlib import sha256
    try:
        from _sha1 import sha1
    except ImportError:
        from hashlib import sha1

__all__ = ["sha1", "sha256"]
