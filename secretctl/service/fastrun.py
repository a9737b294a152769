"""`secretctl run -k PATTERN... -- COMMAND` before anything heavy is imported: through a running
unlock agent, or with an unprotected identity file.

A person's plain run needs no Typer, YAML, policy, sandbox or Vault: find the vault, expand the
patterns with the walk `Vault.key_names` uses, read the ``.age`` files, have the agent decrypt
them in one round trip, then inject, run and record with the code `run_person` uses
(core/injection, service/personrun, service/pending). Only the reading is this module's own.
Anything unusual (an interrupted command, a read-only vault, a stopped sync, a sidecar with an
expiry or fields, a protected identity and no agent, any error) answers None *before* the child
starts or anything is recorded, and the caller runs the normal path, which does what it always
does (and words every refusal). tests/cli/test_fastrun.py runs both and compares them.
"""

from __future__ import annotations

import os

from secretctl.service.fastget import META_SUFFIX, SECRET_SUFFIX, plain_vault

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy only (hyperscan loads typing on `run`'s path; not every command loads hyperscan)
    from collections.abc import Mapping, Sequence
    from typing import BinaryIO

# core/meta's, spelled here: that module costs ~10 ms of imports (tests/cli/test_fastrun.py keeps them equal).
MAX_SIDECAR_BYTES = 64 * 1024
SIDECAR_VERSION = 1


def _select(root: str, patterns: Sequence[str]) -> list[str]:
    """The keys ``run -k`` reads, in order, as `service.run.plan` selects them (no ``--env``)."""
    from secretctl.core import envmap
    from secretctl.service.keywalk import keys_under

    keys: dict[str, None] = {}  # first seen first; a list's `in` made `-k '*'` quadratic
    for pattern in patterns:
        for k in envmap.expand_patterns([pattern], keys_under(root, envmap.pattern_folder(pattern))):
            keys.setdefault(k)
    return list(keys)


def _plain_sidecars(root: str, keys: Sequence[str]) -> bool:
    """Whether every key's sidecar is one the normal path reads without a word: none, or one in
    the line form render_meta writes for a secret without fields, with no expiry (a warning or a
    refusal may be due), of this format version, with both timestamps. Anything else (fields and
    bindings, YAML written by hand, an expiry) is for the normal path, which parses it strictly.
    Honest limit: the timestamps' text is not parsed here (core/meta and datetime cost ~10 ms)."""
    from secretctl.core.metalines import load_fast

    for k in keys:
        try:
            with open(os.path.join(root, k + META_SUFFIX), "rb") as fh:
                data = fh.read(MAX_SIDECAR_BYTES + 1)
        except FileNotFoundError:
            continue
        except OSError:
            return False
        raw = load_fast(data) if len(data) <= MAX_SIDECAR_BYTES else None
        if (raw is None or "expires" in raw or raw.get("version", SIDECAR_VERSION) != SIDECAR_VERSION
                or "created" not in raw or "updated" not in raw):
            return False
    return True


def _read_all(root: str, keys: Sequence[str]) -> list[tuple[str, bytes]] | None:
    """Every key's (file, ciphertext); None if one cannot be read (the normal path words it)."""
    from secretctl.service.fastget import read_ciphertext

    items = []
    for k in keys:
        rel = k + SECRET_SUFFIX
        ciphertext = read_ciphertext(root, rel)
        if ciphertext is None:
            return None
        items.append((rel, ciphertext))
    return items


def run_fast(vault: str | None, patterns: Sequence[str], command: Sequence[str], env: Mapping[str, str], *,
             env_prefix: str = "", allow_short: bool = False, sanitize: bool = True, out: BinaryIO,
             err: BinaryIO) -> int | None:
    """Run ``command`` as `run_person` would, and record it; its exit code. None: not served (the
    child did not start, nothing was recorded): the caller runs the normal path."""
    if not command or not patterns:
        return None
    root = plain_vault(vault, env)
    if root is None:
        return None
    from secretctl.errors import SecretctlError

    try:
        keys = _select(root, patterns)
    except SecretctlError:
        return None  # nothing matches: the normal path says so
    if not _plain_sidecars(root, keys):
        return None
    from secretctl.service.fastget import actor_and_values

    items = _read_all(root, keys)
    found = None if items is None else actor_and_values(root, items, env)
    if found is None:
        return None
    actor, plain = found
    from secretctl.core import envmap
    from secretctl.core.injection import Injection
    from secretctl.core.secret import Secret
    from secretctl.service import personrun

    injection = Injection(allow_short=allow_short)
    try:
        for k, value in zip(keys, plain, strict=True):
            injection.add(envmap.env_name(k, env_prefix), Secret(value), k)
        resolved, args = personrun.command_line(command[0], command[1:], injection.env,
                                                path_env=env.get("PATH", os.defpath), cwd=os.getcwd())
    except SecretctlError:
        injection.env.clear()
        return None  # refused before anything ran: the normal path refuses it, worded as always
    import time

    from secretctl.service import pending

    digest_key: list[bytes] = []

    def digest(text: str) -> str:
        if not digest_key:
            from secretctl.infra import settings

            digest_key.append(pending.digest_key(settings.identity_file(env)))
        return pending.digest(digest_key[0], text)

    child = personrun.child_env(env, injection.env)
    injection.env.clear()
    try:
        code, details = personrun.stream([resolved.path, *args], list(command), child, injection.values,
                                         timeout=None, sanitize=sanitize, out=out, err=err, digest=digest)
    finally:
        child.clear()
    pending.append(root, pending.access_line(pending.format_ts(time.time()), actor, "run", keys, **details))
    return code
