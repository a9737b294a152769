"""The all-values redactor: a redactor over every value this identity can decrypt.

The MCP session builds it (on a thread, reusing a ``ValuesCache`` across rebuilds), and so do
the hooks' deep check and `sync`'s plaintext check; it lives here, not in the session, so those
need not load the session and everything an agent run needs.

The MCP server's first build of a big vault gets a head start (``start_feed``): a forked child
(infra/forked.Stream) reads every sidecar and file and decrypts them (itself, or through its own
connection to the unlock agent) while the server imports the MCP SDK and answers the handshake;
the build thread waits on the pipe (no GIL held) and takes the child's values as they come. The
values cross that pipe as plaintext (core/valueframes): between the server and its own child,
never a file; the child is non-dumpable as the server is, dies with it and lives at most
forked.STREAM_LIFETIME seconds. A key the child could not read (any error) is read by the build
itself, so every error is the one the plain build gives.
"""

from __future__ import annotations

import os
import threading
import time

from secretctl.core import keys as keys_mod
from secretctl.core import valueframes
from secretctl.core.frozen import field, mutable
from secretctl.core.redact import Redactor, load_detectors_meanwhile
from secretctl.core.secret import Secret
from secretctl.errors import IdentityError, NotFoundError, SecretctlError, VaultLockedError
from secretctl.infra import detcache, journal
from secretctl.service.base import being_rewritten
from secretctl.service.buildthread import BackgroundBuild

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy only (hyperscan loads typing on `run`'s path; not every command loads hyperscan)
    from collections.abc import Iterator, Sequence

    from secretctl.core.redact.forms import ValueForms
    from secretctl.infra import forked
    from secretctl.service.vault import Vault

# Past this many values the all-values redactor is lean: no fragments and no base64 literals, 2
# literals per value (compiling 60,000 literals for 10,000 values took 7 s here); each run adds
# every form of the values it injects (run.run_agent).
FRAGMENTS_ALL_MAX = 2000
# Past this many keys the build is pipelined (values_redactor): this share of the keys is compiled
# while the rest is decrypted (10,000 secrets: ~0.85 s of compile CPU, ~1.5 s of decryption).
PIPELINE_MIN = 4000
PIPELINE_SHARE = 0.7
# From this many keys the MCP server's first build takes a forked head start (start_feed): below
# it the whole build takes a few hundred milliseconds, less than the SDK import it would overlap.
FEED_MIN = 1000
FEED_GATE_SECONDS = 10  # the longest a fed build waits for its server to serve (a server that never does)

_Signature = tuple[tuple[int, int, int] | None, tuple[int, int, int] | None]


@mutable
class ValuesCache:
    """What a rebuild may reuse: each key's decrypted values and public field values, by the
    identity of its files; each value's forms."""

    by_key: dict[str, tuple[_Signature, dict[str, Secret], list[bytes]]] = field(default_factory=dict)
    forms: dict[tuple[bytes, int, int], ValueForms] = field(default_factory=dict)
    feed: Feed | None = None  # a forked head start, taken (and closed) by the next build


class Feed:
    """The parent's end of a forked collector (``start_feed``): what the child has sent, by key."""

    def __init__(self, stream: forked.Stream) -> None:
        self.stream = stream
        self._got: dict[str, valueframes.Record | None] = {}
        # Set once the server has imported the SDK and is serving (AgentSession.serving): the
        # build's own work (decoding, forms) holds the GIL, and on a loaded machine it stretched
        # the SDK's import and so the first answer; the child works on meanwhile.
        self.serving = threading.Event()

    def take(self, keys: Sequence[str]) -> dict[str, tuple[_Signature, dict[str, Secret], list[bytes]]]:
        """The child's entries for ``keys`` (waiting for the pieces that hold them); a key it
        skipped, or did not reach before it ended, is left out: the caller reads it itself."""
        while any(k not in self._got for k in keys):
            piece = self.stream.next()
            if piece is None:
                break
            try:
                self._got.update(valueframes.decode(piece))
            except valueframes.FrameError:
                self.close()
                break
        out = {}
        for k in keys:
            rec = self._got.pop(k, None)
            if rec is not None:
                out[k] = (rec[0], {label: Secret(v) for label, v in rec[1].items()}, rec[2])
        return out

    def close(self) -> None:
        self.stream.close()
        self._got.clear()


def start_feed(vault: Vault) -> Feed | None:
    """Fork the collector for ``vault``'s first all-values build (call it while this process runs
    one thread, before starting the build); None when the vault is small or no child could be
    had (the build then reads everything itself)."""
    keys = vault.key_names()
    if len(keys) < FEED_MIN:
        return None
    from secretctl.infra import forked  # imports typing: only the MCP server's start gets here (hooks use this module)

    stream = forked.Stream(lambda: _produce(vault, keys))
    return Feed(stream) if stream.forked else None


def _produce(vault: Vault, keys: Sequence[str]) -> Iterator[bytes]:
    """In the forked child: one frame per part of the pipelined build (values_redactor's cut)."""
    vault.unlock().after_fork()
    root = os.fspath(vault.root) + os.sep
    cut = _cut(keys)
    for part in (keys[:cut], keys[cut:]):
        if not part:
            continue
        now = time.time_ns()
        sigs = [_signature(root, k) for k in part]
        got = vault.redaction_values_many(part)
        yield valueframes.encode(
            (k, None if isinstance(g, SecretctlError)
             else (_trusted(sig, now), {label: v.reveal() for label, v in g[0].items()}, g[1]))
            for k, sig, g in zip(part, sigs, got, strict=True))


# A file changed this recently may change again within the same clock tick (bulk writes rewrite
# files in place: same inode, and the same size for a value of the same length), so its signature
# is not trusted next time (git's "racy" rule; infra/sidecarcache.py does the same).
RACY_NS = 2_000_000_000
_UNTRUSTED = ((-1, -1, -1), None)  # a signature no file has


def _trusted(sig: _Signature, now: int) -> _Signature:
    return _UNTRUSTED if any(s is not None and now - s[1] < RACY_NS for s in sig) else sig


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _cut(keys: Sequence[str]) -> int:
    """Where the pipelined build splits the keys (all of them in one part below PIPELINE_MIN): the
    collector's pieces must be the build's parts, or the first part would wait for every piece."""
    return int(len(keys) * PIPELINE_SHARE) if len(keys) >= PIPELINE_MIN else len(keys)


def _signature(root: str, key: str) -> tuple[tuple[int, int, int] | None, tuple[int, int, int] | None]:
    """What a cached key's values are kept by: its age file's and its sidecar's stat."""
    return _stat(root + keys_mod.secret_path(key)), _stat(root + keys_mod.meta_path(key))


def _collect(vault: Vault, cache: ValuesCache, keys: Sequence[str],
             feed: Feed | None = None) -> tuple[dict[str, Secret], list[bytes]]:
    values: dict[str, Secret] = {}
    public: list[bytes] = []
    root = os.fspath(vault.root) + os.sep  # strings: path objects were a tenth of a 10,000-key build
    fed = feed.take(keys) if feed is not None else {}
    cache.by_key.update(fed)  # read and signed by the child just now
    rest = [key for key in keys if key not in fed]
    now = time.time_ns()
    sigs = {key: _signature(root, key) for key in rest}
    stale = [key for key in rest if (hit := cache.by_key.get(key)) is None or hit[0] != sigs[key]]
    # One sidecar read per key and one decrypt_many call for them all (public field values live in
    # the encrypted document too). A damaged sidecar fails the build, as it always has.
    for key, got in zip(stale, vault.redaction_values_many(stale), strict=True):
        if isinstance(got, VaultLockedError):
            raise got  # locked: no redactor at all, rather than one that knows no value
        if isinstance(got, SecretctlError) and not isinstance(got, (IdentityError, NotFoundError)):
            _damaged(vault, cache, key)
            continue
        # Not a recipient, or gone: nothing to redact that we could know.
        cache.by_key[key] = (_trusted(sigs[key], now), *(({}, []) if isinstance(got, SecretctlError) else got))
    for key in keys:
        hit = cache.by_key[key]
        values.update(hit[1])
        public += hit[2]
    return values, public


def _damaged(vault: Vault, cache: ValuesCache, key: str) -> None:
    """A file that does not decrypt may be one a running command is rewriting in place (bulk
    writes do, under the intent journal): a read between its first byte and its last sees a torn
    file. Its value must not drop out of the redactor for that: the values known from the last
    build stay (read again next time), and with none known while a journal is open the build
    fails and the next call retries it. A file damaged at rest, with no journal, is skipped as
    before: no one can decrypt it, so no run can inject it."""
    if (hit := cache.by_key.get(key)) is not None:
        cache.by_key[key] = (_UNTRUSTED, hit[1], hit[2])
    elif journal.pending(vault.git_dir):
        raise being_rewritten(keys_mod.secret_path(key)) from None
    else:  # damaged at rest: `check` reports it
        cache.by_key[key] = (_UNTRUSTED, {}, [])


def _prune(cache: ValuesCache, keys: Sequence[str]) -> None:
    for gone in set(cache.by_key) - set(keys):
        del cache.by_key[gone]


def values_redactor(vault: Vault, *, fragment_min: int = 8, fragment_value_min: int = 16,
                    cache: ValuesCache | None = None) -> Redactor:
    """A redactor over every value this identity can decrypt (secrets it cannot read are skipped).

    Past PIPELINE_MIN keys it is built in two chunks: the first (most of the keys) compiles on
    other threads (Hyperscan compiles without the GIL) while the rest is decrypted, and the two
    are joined, so little of the compile is left once the last value is read. That needs the
    lean form, so it is taken only when the first chunk alone makes the vault lean."""
    cache = cache if cache is not None else ValuesCache()
    feed, cache.feed = cache.feed, None
    try:
        if feed is not None:
            feed.serving.wait(FEED_GATE_SECONDS)
        return _build(vault, cache, feed, fragment_min, fragment_value_min)
    finally:
        if feed is not None:
            feed.close()


def _build(vault: Vault, cache: ValuesCache, feed: Feed | None, fragment_min: int,
           fragment_value_min: int) -> Redactor:
    detcache.install()
    load_detectors_meanwhile()  # a cold cache's compile overlaps the decryption below
    keys = vault.key_names()
    previous, cache.forms = cache.forms, {}
    cut = _cut(keys)
    values, public = _collect(vault, cache, keys[:cut], feed)
    if cut < len(keys) and len(values) > FRAGMENTS_ALL_MAX:
        first = Redactor.build(values, fragment_min=fragment_min, fragment_value_min=fragment_value_min,
                               public=public, fragments=False, lean=True, compiled=False,
                               forms_cache=_kept_forms(cache, previous, values, fragment_min, fragment_value_min))
        compiling = BackgroundBuild(first.compile)
        values, public = _collect(vault, cache, keys[cut:], feed)
        _prune(cache, keys)
        rest = Redactor.build(values, fragment_min=fragment_min, fragment_value_min=fragment_value_min,
                              public=public, fragments=False, lean=True,
                              forms_cache=_kept_forms(cache, previous, values, fragment_min, fragment_value_min))
        return Redactor.joined([compiling.wait(), rest])
    if cut < len(keys):
        more, public_more = _collect(vault, cache, keys[cut:], feed)
        values.update(more)
        public += public_more
    _prune(cache, keys)
    return Redactor.build(values, fragment_min=fragment_min, fragment_value_min=fragment_value_min,
                          public=public, fragments=len(values) <= FRAGMENTS_ALL_MAX,
                          lean=len(values) > FRAGMENTS_ALL_MAX,
                          forms_cache=_kept_forms(cache, previous, values, fragment_min, fragment_value_min))


def _kept_forms(cache: ValuesCache, previous: dict[tuple[bytes, int, int], ValueForms], values: dict[str, Secret],
                fragment_min: int, fragment_value_min: int) -> dict[tuple[bytes, int, int], ValueForms]:
    """The forms cache for a build: the forms of these values kept from the last build (the
    values no longer there are dropped)."""
    for v in values.values():
        for lean in (False, True):
            key = Redactor.forms_key(v.reveal(), fragment_min, fragment_value_min, lean=lean)
            if key in previous:
                cache.forms[key] = previous[key]
    return cache.forms


