"""git work a mutation will need, started before its imports (a plain `set` on the fast path).

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
