"""git work a mutation will need, started before its imports (a plain `set` on the fast path,
the plain forms of `member add` and `import`).

The first git process of every mutation lists the vault's config (the guard of
``infra/gitrepo``); started here, it runs on another core while the command imports the Vault,
and the guard takes its answer only if no config file changed in between.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs every start ~3 ms to import: for mypy only
if TYPE_CHECKING:
    from collections.abc import Mapping


def prefetch_config(explicit: str | None, env: Mapping[str, str]) -> None:
    """Start listing the config of the vault ``explicit`` (``--vault``) or ``env`` names, when
    it is found as cheaply as the `get` fast path finds it; else nothing (the guard lists then)."""
    from secretctl.service.fastget import vault_root

    root = vault_root(explicit, env)
    if root is not None:
        from secretctl.infra import gitrepo

        gitrepo.prefetch_config(root)


def bulk_ahead(command: str, env: Mapping[str, str]) -> None:
    """What a bulk command (cli/bulk.py's ``member-add`` or ``import``) needs first: the config
    listing, and its cryptography imported on a thread (infra/preload) while the main thread
    imports the Vault and waits for its first git processes. ``ctypes``: what a forked worker
    imports first (infra/forked), loaded once here instead of in the worker's critical path; the
    writer threads' queue (infra/store) and the pack's zlib come last (python -X importtime)."""
    from secretctl.infra import preload

    prefetch_config(None, env)
    # The key exchange loads cryptography's OpenSSL backend on first use.
    # pyrage: unlocking parses the identity with it (infra/crypto.parse_identities).
    rekey = ("secretctl.infra.agerekey", "cryptography.hazmat.backends.openssl.backend") \
        if command == "member-add" else ()
    preload.start(*rekey, "pyrage", "secretctl.infra.forked", "ctypes", "queue", "zlib")
