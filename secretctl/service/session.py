"""An agent's session over the vault (service layer): every MCP tool's logic, no MCP types.

The session holds what the MCP server must know across calls: the policy loaded at start,
a redactor over *every* value the identity can decrypt (rebuilt when the vault's HEAD
moves, so a value written to a file in one call and read back in another is still
redacted), and the oracle defence (strikes, then a lock on running commands).

The all-values redactor is built on a thread (``_Build``): decrypting and compiling 10,000
values takes seconds, and ``tools/list`` and the read tools must not wait for it. Runs wait.
A rebuild (HEAD moved) decrypts only the secrets whose files changed and recomputes forms only
for values it has not seen; the compiled database is rebuilt whole (Hyperscan cannot add to
one) and lives in memory only.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from secretctl.core import keys
from secretctl.core.durations import parse_duration, parse_expiry, parse_timeout
from secretctl.core.fields import is_sensitive
from secretctl.core.passwords import generate
from secretctl.core.redact import MIN_REDACTABLE, Redactor
from secretctl.core.redact.matches import apply
from secretctl.core.secret import mask
from secretctl.errors import NotFoundError, PolicyError, SecretctlError, UsageError, VaultLockedError
from secretctl.infra import gitrepo
from secretctl.service import allvalues, run
from secretctl.service.allvalues import ValuesCache
from secretctl.service.buildthread import BackgroundBuild
from secretctl.service.results import Entry, SetRequest

if TYPE_CHECKING:
    from secretctl.core.policy import Policy
    from secretctl.infra.runner import StreamFilter
    from secretctl.service.vault import Vault

SECRET_MATERIAL = "argument contains secret material"
SECRET_MATERIAL_HINT = "reference the value as $ENV_NAME instead of writing it out"
# secret_list answers in pages: an MCP client puts the whole answer into the model's context, and
# a 10,000-secret vault's full list is ~3 MB of JSON (Claude Code refuses tool answers over 25,000
# tokens by default). 200 entries are ~60 KB; the SDK's validation of a full list took ~0.5 s.
LIST_PAGE = 200
LIST_PAGE_MAX = 1000


@dataclass
class _Cache:
    head: str | None = None
    entries: list[dict[str, Any]] | None = None
    metas: dict[str, Any] | None = None
    day: str = ""


class _Build(BackgroundBuild[Redactor]):
    """One build of the all-values redactor for one HEAD; ``result`` waits for it (and re-raises
    its failure, as a SecretctlError: nothing runs without a redactor)."""

    def __init__(self, head: str | None, target: Callable[[], Redactor]) -> None:
        self.head = head
        super().__init__(target)

    @property
    def failed_locked(self) -> bool:
        return self._done.is_set() and isinstance(self._error, VaultLockedError)

    def result(self) -> Redactor:
        try:
            return self.wait()
        except SecretctlError:
            raise
        except BaseException as exc:
            raise SecretctlError(f"the redactor could not be built ({type(exc).__name__})") from None


class AgentSession:
    def __init__(self, vault: Vault, *, policy: Policy | None = None, warnings: Sequence[str] = (),
                 base_env: Mapping[str, str] | None = None, clock: Callable[[], datetime] | None = None) -> None:

        self.vault = vault
        if policy is None:
            policy, warn = run.load_agent_policy(vault)
            warnings = [*warnings, *warn]
        self.policy = policy
        self.warnings = list(warnings)
        self.base_env = base_env
        self.strikes = 0
        self.locked: str | None = None
        # Strikes, the lock and the runs in flight change together under this condition: the MCP
        # server runs tool calls on concurrent threads.
        self._guard = threading.Condition()
        self._inflight = 0
        self._cache = _Cache()
        self._clock = clock
        self._values = ValuesCache()
        self._build: _Build | None = None
        self._feed: allvalues.Feed | None = None
        self._build_lock = threading.Lock()

    # ------------------------------------------------------------- sanitizer
    # The build itself lives in service/allvalues.py (the hooks and sync use it without this
    # module); a class attribute, so a test can hold the build back.
    values_redactor = staticmethod(allvalues.values_redactor)

    def start_redactor(self, *, head_start: bool = False) -> _Build:
        """The build for the current HEAD, started if it is not (returns at once). ``head_start``:
        a first build of a big vault forks a collector that reads and decrypts meanwhile
        (allvalues.start_feed); only while this process runs one thread, before the SDK import
        the collector overlaps."""

        head = gitrepo.head(self.vault.root)
        with self._build_lock:
            if head_start and self._build is None and not self._values.by_key:
                # Forked here, before the build's thread.
                self._values.feed = self._feed = allvalues.start_feed(self.vault)
            # A failed build (the vault was locked) is tried again by the next call.
            if self._build is None or self._build.head != head or self._build.failed:
                self._build = _Build(head, lambda: self.values_redactor(
                    self.vault, fragment_min=self.policy.fragment_min,
                    fragment_value_min=self.policy.fragment_value_min, cache=self._values))
            return self._build

    def serving(self) -> None:
        """The server has imported the SDK and answers now: a first build fed by a forked child
        (start_redactor) may take the GIL for its own work from here on."""
        if self._feed is not None:
            self._feed.serving.set()

    @property
    def redactor(self) -> Redactor:
        """The all-values redactor for the current HEAD (waits for its build)."""
        return self.start_redactor().result()

    def _ready_redactor(self) -> Redactor | None:
        """The redactor if its build is done, else None (read tools do not wait; see docs/mcp.md).
        After a build that failed because the vault is locked, it waits (and fails the same way
        while still locked): no answer goes out that no sanitizer could have checked."""
        previous = self._build
        build = self.start_redactor()
        if build is not previous and previous is not None and previous.failed_locked:
            return build.result()
        if build.ready:
            return build.result()
        # Still building: an answer may go out unsanitized (metadata), but never while the vault
        # is locked, which the build would find only later (it is slow on a big vault).
        self.vault.check_unlocked()
        return None

    def sanitize(self, obj: Any) -> Any:
        """Redact every string in a tool's result (keys included: a value could be a key name).
        While the redactor is still being built, results go out as they are: they are metadata
        (plaintext in git already) or what the agent typed; runs always wait for it."""
        r = self._ready_redactor()
        if r is None:
            return obj
        if isinstance(obj, dict | list):
            import json

            # One scan of the whole result: most results hold nothing to redact.
            if not r.find(json.dumps(obj, ensure_ascii=False).encode("utf-8", errors="surrogateescape")):
                return obj
            return self._sanitize_each(obj)
        return self._sanitize_each(obj)

    def _sanitize_each(self, obj: Any) -> Any:
        r = self._ready_redactor()
        if r is None:
            return obj
        if isinstance(obj, str):
            # A marker never names a secret here: the reader was given none.
            data = obj.encode("utf-8", errors="surrogateescape")
            return apply(data, r.find(data), frozenset()).decode("utf-8", errors="replace")
        if isinstance(obj, list):
            return [self._sanitize_each(x) for x in obj]
        if isinstance(obj, dict):
            return {k: self._sanitize_each(v) for k, v in obj.items()}
        return obj

    def error_text(self, tool: str, message: str) -> str:
        """What the agent is told of a refused call: ``message`` unless it holds secret material
        (an error that echoes a typed argument, redacted, would confirm a guess: `limit`,
        `timeout`, `length` did). Then a fixed refusal, counted as a strike."""
        if self.sanitize(message) == message:
            return message
        self._strike(tool, "an error would have echoed secret material")
        return f"{SECRET_MATERIAL} (hint: {SECRET_MATERIAL_HINT})"

    def _record(self, action: str, keys: Sequence[str], **details: Any) -> None:
        """An access-log record in which anything the agent typed that holds secret material
        (a value, an encoding, a fragment) is kept only as a keyed hash: the log is committed."""
        self.vault.record_access(action, self._loggable(list(keys)), **self._loggable(details))

    def _loggable(self, obj: Any) -> Any:
        if isinstance(obj, str):
            r = self._ready_redactor()
            if r is None:
                # The redactor is still being built (read tools do not wait for it): what cannot be
                # checked is logged as a keyed hash, unless it is a key that exists.
                return obj if not obj or self._is_key(obj) else self.vault.log_digest(obj)
            return self.vault.log_digest(obj) if r.contains(obj.encode("utf-8", "surrogateescape")) else obj
        if isinstance(obj, list | tuple):
            return [self._loggable(x) for x in obj]
        if isinstance(obj, dict):
            return {k: self._loggable(v) for k, v in obj.items()}
        return obj

    def _check_arguments(self, tool: str, texts: Sequence[str | None], *, waiting: bool = False) -> None:
        """The oracle defence: refuse (and count) arguments that already hold a secret form or
        fragment: run arguments, and every argument of the read tools, whose answers or errors
        would otherwise reflect the guess back (redacted, but a redaction confirms it). Only a
        text that needs checking waits for the redactor (built on a thread at start): an existing
        key, a folder or tag secret_list shows, or a text under 4 characters needs none, so the
        read tools answer at once."""
        if waiting:
            # The caller waits for the redactor anyway (a run): ask it first, and look up among
            # what secret_list shows only a text it flags. The same refusals, without listing
            # every entry on the first run (10,000 sidecars: ~0.5 s of CPU beside the build).
            todo = [t for t in texts if t and len(t) >= MIN_REDACTABLE and not self._is_key(t)]
            r = self.redactor if todo else None
            todo = [t for t in todo if r is not None and r.contains(t.encode("utf-8", errors="surrogateescape"))]
            flagged = [t for t in todo if not self._known(t)]
        else:
            todo = [t for t in texts if t and not self._known(t)]
            r = self.redactor if todo else None
            flagged = [t for t in todo if r is not None and r.contains(t.encode("utf-8", errors="surrogateescape"))]
        if flagged:
            self._strike(tool, "argument contained secret material", argument=flagged[0])  # logged as a hash
            raise PolicyError(SECRET_MATERIAL, hint=SECRET_MATERIAL_HINT)

    def _check_key_arguments(self, tool: str, keys: Sequence[str | None], *, waiting: bool = False) -> None:
        """Key arguments: a key that exists is what secret_list showed (never a probe); any other
        is checked like every typed argument."""
        self._check_arguments(tool, [k for k in keys if k and not self._is_key(k)], waiting=waiting)

    def _known(self, text: str) -> bool:
        """Text no value can hide in: too short, or what secret_list shows (a key, a folder, a tag)."""
        if len(text) < MIN_REDACTABLE or self._is_key(text):
            return True
        entries = self._entries()
        if text.endswith("/") and any(k.startswith(text) for k in entries):
            return True
        return any(e.meta is not None and text in e.meta.tags for e in entries.values())

    def _is_key(self, text: str) -> bool:
        try:
            return self.vault.exists(text)
        except SecretctlError:
            return False

    def _strike(self, tool: str, reason: str, **details: Any) -> None:
        with self._guard:
            self.strikes += 1
            n = self.strikes
            newly_locked = n >= self.policy.strike_limit and self.locked is None
            if newly_locked:
                self.locked = f"{n} attempts to probe secret values"
            self._guard.notify_all()
        self._record(f"mcp.{tool}", [], decision="deny", reason=f"strike {n}: {reason}", **details)
        if newly_locked:
            self._record("mcp.lock", [], decision="deny", reason=f"secret_run locked for this session: {self.locked}")

    @contextmanager
    def _run_slot(self, tool: str, keys: Sequence[str], argv: Sequence[str],
                  cancel: threading.Event | None) -> Iterator[None]:
        """A run starts only while strikes plus runs in flight stay under the strike limit: each
        run in flight may still turn out to be a probe, so concurrent probes can never run more
        often than the limit allows. Others wait their turn (or their cancellation)."""
        with self._guard:
            while self.locked is None and self.strikes + self._inflight >= self.policy.strike_limit:
                if cancel is not None and cancel.is_set():
                    raise PolicyError(f"{tool} cancelled before it started")
                self._guard.wait(0.05)
            locked = self.locked
            if locked is None:
                self._inflight += 1
        if locked is not None:
            self._record(f"mcp.{tool}", list(keys), argv=list(argv), decision="deny", reason=f"locked: {locked}")
            raise PolicyError(f"{tool} is locked for this session ({locked})",
                              hint="start a new session; the access log records why")
        try:
            yield
        finally:
            with self._guard:
                self._inflight -= 1
                self._guard.notify_all()

    # ----------------------------------------------------------------- tools
    def _entries(self) -> dict[str, Any]:

        head = gitrepo.head(self.vault.root)
        if self._cache.metas is None or head != self._cache.head:
            self.start_redactor()  # HEAD moved: the rebuild starts now, on its thread
            self._cache = _Cache(head)
            self._cache.metas = {e.key: e for e in self.vault.list_entries()}
            self._cache.entries = None
        return self._cache.metas

    def _public_entries(self) -> list[dict[str, Any]]:
        """Every entry as the tools show it, computed once per HEAD (and per day, for `expired`)."""
        metas = self._entries()
        day = self._now().date().isoformat()
        if self._cache.entries is None or self._cache.day != day:
            now = self._now()
            self._cache.entries = [e.to_json(now) for e in metas.values()]
            self._cache.day = day
        return self._cache.entries

    def secret_list(self, *, tag: str | None = None, expiring_within: str | None = None,
                    prefix: str | None = None, limit: int | None = None,
                    cursor: str | None = None) -> dict[str, Any]:
        """One page of the entries that match, in key order: `next_cursor` (the page's last key)
        asks for the next one, and `total` counts every match."""
        self._check_arguments("secret_list", [tag, expiring_within, prefix, cursor, _typed(limit)])
        size = LIST_PAGE if limit is None else limit
        if not 1 <= size <= LIST_PAGE_MAX:
            # Not echoed: an error that repeats what the agent typed, redacted, confirms a guess.
            raise UsageError(f"limit must be between 1 and {LIST_PAGE_MAX}",
                             hint="narrow the list with prefix or tag, and page with cursor")
        now = self._now()
        window = None
        if expiring_within:

            window = parse_duration(expiring_within)
        metas = self._entries()
        out = []
        for pub in self._public_entries():
            key = pub["key"]
            if prefix and not key.startswith(prefix):
                continue
            if tag or window is not None:
                m = metas[key].meta
                if tag and (m is None or tag not in m.tags):
                    continue
                if window is not None and (m is None or not m.expires_within(now, window)):
                    continue
            out.append(pub)
        self._record("mcp.secret_list", [], decision="allow")
        start = 0 if cursor is None else bisect_right([p["key"] for p in out], cursor)
        page = out[start:start + size]
        more = start + size < len(out)
        return {"secrets": page, "total": len(out), "next_cursor": page[-1]["key"] if more else None}

    def secret_exists(self, key: str) -> dict[str, Any]:

        self._check_key_arguments("secret_exists", [key])
        keys.validate_key(key)
        entry = self._entries().get(key)
        self._record("mcp.secret_exists", [key], decision="allow")
        return {"exists": entry is not None, **(entry or Entry(key, None)).to_json(self._now())}

    def secret_get_masked(self, key: str) -> dict[str, Any]:
        self._check_key_arguments("secret_get_masked", [key])
        meta = self._committed_meta(key)
        if meta is not None and meta.is_multifield:
            # Each field on its own: masking the serialized document would show its last characters.
            masked = self.vault.masked_fields(key, meta)
            self._record("mcp.secret_get_masked", [key], decision="allow")
            return {"key": key, "masked_value": ", ".join(f"{m.name}={m.masked_value}" for m in masked),
                    "fields": [m.to_json() for m in masked]}
        value = self.vault.read(key)
        self._record("mcp.secret_get_masked", [key], decision="allow")
        text = value.reveal().decode("utf-8", errors="replace")
        return {"key": key, "masked_value": mask(value.reveal()), "value_length": len(text)}

    def secret_list_fields(self, key: str) -> dict[str, Any]:
        self._check_key_arguments("secret_list_fields", [key])
        meta = self._committed_meta(key)
        fields = [] if meta is None else [
            {"name": f.name, "sensitive": is_sensitive(f), "hint": f.hint, "kind": f.kind,
             "aliases": list(f.aliases)}
            for f in meta.fields
        ]
        self._record("mcp.secret_list_fields", [key], decision="allow")
        return {"key": key, "fields": fields, "bindings": dict(meta.bindings) if meta else {}}

    def secret_get_field(self, key: str, field: str) -> dict[str, Any]:
        """A public field's value, decrypted here: the agent never gets a sensitive one."""
        self._check_key_arguments("secret_get_field", [key])
        self._check_arguments("secret_get_field", [field])
        meta = self._committed_meta(key)
        f = meta.field(field) if meta else None
        if f is None:
            raise NotFoundError(f"field not found: {key} {field}")
        if is_sensitive(f):
            self._record("mcp.secret_get_field", [key], decision="deny", field=field,
                                     reason="sensitive field")
            raise PolicyError(f"field {field} of {key} is sensitive: agents never receive it",
                              hint="inject it with secret_run_with_bindings and reference $ENV_NAME")
        _, value = self.vault.field_value(key, f.name, meta)
        self._record("mcp.secret_get_field", [key], decision="allow", field=field)
        return {"key": key, "field": f.name, "value": value.reveal_text(), "kind": f.kind}

    def policy_show(self) -> dict[str, Any]:
        from secretctl.service import run

        self._record("mcp.policy_show", [], decision="allow")
        return {**self.policy.describe(), **run.sandbox_status(self.policy)}

    def secret_run(self, *, keys: Sequence[str], command: str, args: Sequence[str] = (),
                   timeout: float | str | None = None, env_prefix: str = "", env: str | None = None,
                   bindings_key: str | None = None, tool: str = "secret_run",
                   cancel: threading.Event | None = None) -> dict[str, Any]:
        """Run a command for the agent. ``cancel`` (set when the MCP call is cancelled or times
        out) kills the command's whole process tree before this returns."""

        with self._run_slot(tool, keys, [command, *args], cancel):
            self._check_arguments(tool, [command, *args, env_prefix, env, _typed(timeout)], waiting=True)
            self._check_key_arguments(tool, [*keys, bindings_key], waiting=True)
            req = run.RunRequest(patterns=tuple(keys), command=command, args=tuple(args), env_prefix=env_prefix,
                                 env_name=env, timeout=parse_timeout(timeout), bindings_key=bindings_key)
            seen = _Redactions()
            result = run.run_agent(self.vault, req, policy=self.policy, redactor=self.redactor,
                                   base_env=self.base_env, cancel=cancel, make_filter=seen.wrap)
            # A redaction the redactor made (not a marker the output already held) of a secret that
            # was not injected: the command reflected typed input or read the value some other way.
            # Such a marker does not name the secret (``[REDACTED]``): the redactor's own report
            # (``result.redacted``) says which it was.
            injected = set(result.keys)
            made = seen.made() | set(result.redacted)
            foreign = {lbl for lbl in made if lbl.split(":")[0] not in injected and lbl != "credential"}
            if foreign:
                self._strike(tool, f"output revealed {len(foreign)} secret(s) that were not injected")
        return {
            "exit_code": result.exit_code,
            "stdout": result.stdout.decode("utf-8", errors="replace"),
            "stderr": result.stderr.decode("utf-8", errors="replace"),
            # A side channel (a program can take longer on a value's bits): agents get 100 ms steps.
            "duration_ms": round(result.duration_ms, -2),
            "sanitized": True,
            "truncated": result.truncated,
            "timed_out": result.timed_out,
            **sandbox_note(result.sandbox),
        }

    def secret_generate(self, key: str, *, length: int = 32, charset: str | None = None,
                        expires: str | None = None) -> dict[str, Any]:

        self._check_arguments("secret_generate", [key, charset, expires, _typed(length)])
        if not self.policy.allow_generate:
            self._record("mcp.secret_generate", [key], decision="deny", reason="not allowed by policy")
            raise PolicyError("secret_generate is off", hint="the policy must say mcp: {allow_generate: true}")
        if self.vault.exists(key):
            raise UsageError(f"secret already exists: {key}", hint="agents may only create new secrets")
        exp = None
        if expires:

            exp = parse_expiry(expires, self._now())
        value = generate(length, charset=charset)
        self.vault.set(key, SetRequest(value=value, expires=exp, tags=["generated-by-agent"]))
        self._record("mcp.secret_generate", [key], decision="allow")
        return {"key": key, "stored": True, "length": length}

    def _now(self) -> datetime:
        return self._clock() if self._clock else self.vault.clock()

    def _committed_meta(self, key: str) -> Any:
        """The committed sidecar of an existing secret (NotFoundError otherwise): what the agent is
        told about fields and sensitivity never comes from an uncommitted edit."""
        self.vault.entry(key)  # the secret must exist (and the key be valid)
        return self.vault.committed_meta(key)


_MARKER_MAX = 4096  # longer than any marker: a key name is at most a few hundred bytes


class _MarkerCount:
    """Counts ``[REDACTED:label]`` markers per label in a byte stream, across chunk boundaries."""

    def __init__(self) -> None:
        import re

        self.counts: Counter[str] = Counter()
        self._tail = b""
        self._done = 0  # offset in the tail up to which markers are counted
        self._re = re.compile(rb"\[REDACTED:([^\]\n]{1,1024})\]")

    def feed(self, data: bytes) -> None:
        buf = self._tail + data
        end = self._done
        for m in self._re.finditer(buf):
            if m.start() >= self._done:
                self.counts[m.group(1).decode("utf-8", errors="replace")] += 1
                end = m.end()
        keep = max(len(buf) - _MARKER_MAX, 0)
        self._tail = buf[keep:]
        self._done = max(end - keep, 0)


class _Redactions:
    """Wraps the redactor's stream filters to learn which labels the redactor itself put in the
    output: a forged marker the command printed is counted before and after, so it cancels out."""

    def __init__(self) -> None:
        self._pairs: list[tuple[_MarkerCount, _MarkerCount]] = []

    def wrap(self, redactor: run.StreamSource) -> Callable[[], StreamFilter]:
        def make() -> StreamFilter:
            before, after = _MarkerCount(), _MarkerCount()
            self._pairs.append((before, after))
            return _Counting(redactor.stream(), before, after)
        return make

    def made(self) -> set[str]:
        out: set[str] = set()
        for before, after in self._pairs:
            out |= set(after.counts - before.counts)
        return out


class _Counting:
    def __init__(self, inner: StreamFilter, before: _MarkerCount, after: _MarkerCount) -> None:
        self._inner, self._before, self._after = inner, before, after

    def feed(self, chunk: bytes) -> bytes:
        self._before.feed(chunk)
        return self._seen(self._inner.feed(chunk))

    def flush_idle(self) -> bytes:
        return self._seen(self._inner.flush_idle())

    def close(self) -> bytes:
        return self._seen(self._inner.close())

    def _seen(self, out: bytes) -> bytes:
        self._after.feed(out)
        return out


def sandbox_note(engine: str) -> dict[str, Any]:
    """Every run result says what contained it; without a sandbox, loudly."""
    if engine != "none":
        return {"sandbox": engine}
    return {"sandbox": "none", "warning": "SANDBOX OFF: the policy says `sandbox: none`, so this command ran with "
            "the user's full access to files, network and processes"}


def _typed(arg: object) -> str | None:
    """A number or text argument as the agent typed it, for the argument checks (a number can be
    a PIN's or an account's digits)."""
    return None if arg is None or isinstance(arg, bool) else str(arg)
