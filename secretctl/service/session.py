"""An agent's session over the vault (service layer): every MCP tool's logic, no MCP types.

The session holds what the MCP server must know across calls: the policy loaded at start,
a redactor over *every* value the identity can decrypt (rebuilt when the vault's HEAD
moves, so a value written to a file in one call and read back in another is still
redacted), and the oracle defence (strikes, then a lock on running commands).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from secretctl.core import keys
from secretctl.core.durations import parse_duration, parse_expiry
from secretctl.core.passwords import generate
from secretctl.core.redact import Redactor
from secretctl.core.secret import Secret, mask
from secretctl.errors import NotFoundError, PolicyError, SecretctlError, UsageError
from secretctl.infra import gitrepo
from secretctl.service import run
from secretctl.service.results import Entry, SetRequest

if TYPE_CHECKING:
    from secretctl.core.policy import Policy
    from secretctl.core.redact import Redactor
    from secretctl.service.vault import Vault

SECRET_MATERIAL = "argument contains secret material"


@dataclass
class _Cache:
    head: str | None = None
    redactor: Redactor | None = None
    entries: list[dict[str, Any]] | None = None
    metas: dict[str, Any] | None = None
    day: str = ""


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
        self._cache = _Cache()
        self._clock = clock

    # ------------------------------------------------------------- sanitizer
    @staticmethod
    def values_redactor(vault: Vault, *, fragment_min: int = 8, fragment_value_min: int = 16) -> Redactor:
        """A redactor over every value this identity can decrypt (secrets it cannot read are skipped)."""

        values: dict[str, Secret] = {}
        for key in vault.key_names():
            try:
                values.update(vault.secret_values(key))
            except SecretctlError:
                continue  # not a recipient, or damaged: nothing to redact that we could know
        return Redactor.build(values, fragment_min=fragment_min, fragment_value_min=fragment_value_min)

    def _refresh(self) -> None:

        head = gitrepo.head(self.vault.root)
        if head == self._cache.head and self._cache.redactor is not None:
            return
        self._cache = _Cache(head, self.values_redactor(self.vault, fragment_min=self.policy.fragment_min,
                                                        fragment_value_min=self.policy.fragment_value_min))

    @property
    def redactor(self) -> Redactor:
        self._refresh()
        assert self._cache.redactor is not None  # noqa: S101 - set by _refresh
        return self._cache.redactor

    def sanitize(self, obj: Any) -> Any:
        """Redact every string in a tool's result (keys included: a value could be a key name)."""
        r = self.redactor
        if isinstance(obj, dict | list):
            import json

            # One scan of the whole result: most results hold nothing to redact.
            if not r.find(json.dumps(obj, ensure_ascii=False).encode("utf-8", errors="surrogateescape")):
                return obj
            return self._sanitize_each(obj)
        return self._sanitize_each(obj)

    def _sanitize_each(self, obj: Any) -> Any:
        r = self.redactor
        if isinstance(obj, str):
            return r.redact(obj.encode("utf-8", errors="surrogateescape")).decode("utf-8", errors="replace")
        if isinstance(obj, list):
            return [self._sanitize_each(x) for x in obj]
        if isinstance(obj, dict):
            return {k: self._sanitize_each(v) for k, v in obj.items()}
        return obj

    def _record(self, action: str, keys: Sequence[str], **details: Any) -> None:
        """An access-log record with anything the agent typed (keys, fields) sanitized first:
        the log is committed, and an agent may pass a value where a key name belongs."""
        self.vault.record_access(action, self._sanitize_each(list(keys)), **self._sanitize_each(details))

    def _check_arguments(self, tool: str, texts: Sequence[str]) -> None:
        """The oracle defence: refuse arguments that already hold a secret form or fragment."""
        r = self.redactor
        for t in texts:
            if r.contains(t.encode("utf-8", errors="surrogateescape")):
                self._strike(tool, "argument contained secret material")
                raise PolicyError(SECRET_MATERIAL,
                                  hint="reference the value as $ENV_NAME instead of writing it out")

    def _strike(self, tool: str, reason: str) -> None:
        self.strikes += 1
        self._record(f"mcp.{tool}", [], decision="deny", reason=f"strike {self.strikes}: {reason}")
        if self.strikes >= self.policy.strike_limit and self.locked is None:
            self.locked = f"{self.strikes} attempts to probe secret values"
            self._record("mcp.lock", [], decision="deny",
                                     reason=f"secret_run locked for this session: {self.locked}")

    # ----------------------------------------------------------------- tools
    def _entries(self) -> dict[str, Any]:

        head = gitrepo.head(self.vault.root)
        if self._cache.metas is None or head != self._cache.head:
            self._refresh()
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
                    prefix: str | None = None) -> dict[str, Any]:
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
        return {"secrets": out}

    def secret_exists(self, key: str) -> dict[str, Any]:

        keys.validate_key(key)
        entry = self._entries().get(key)
        self._record("mcp.secret_exists", [key], decision="allow")
        return {"exists": entry is not None, **(entry or Entry(key, None)).to_json(self._now())}

    def secret_get_masked(self, key: str) -> dict[str, Any]:
        value = self.vault.read(key)
        self._record("mcp.secret_get_masked", [key], decision="allow")
        text = value.reveal().decode("utf-8", errors="replace")
        return {"key": key, "masked_value": mask(value.reveal()), "value_length": len(text)}

    def secret_list_fields(self, key: str) -> dict[str, Any]:
        meta = self.vault.entry(key).meta
        fields = [] if meta is None else [
            {"name": f.name, "sensitive": f.sensitive, "hint": f.hint, "kind": f.kind, "aliases": list(f.aliases)}
            for f in meta.fields
        ]
        self._record("mcp.secret_list_fields", [key], decision="allow")
        return {"key": key, "fields": fields, "bindings": dict(meta.bindings) if meta else {}}

    def secret_get_field(self, key: str, field: str) -> dict[str, Any]:
        meta = self.vault.entry(key).meta
        f = meta.field(field) if meta else None
        if f is None:
            raise NotFoundError(f"field not found: {key} {field}")
        if f.sensitive:
            self._record("mcp.secret_get_field", [key], decision="deny", field=field,
                                     reason="sensitive field")
            raise PolicyError(f"field {field} of {key} is sensitive: agents never receive it",
                              hint="inject it with secret_run_with_bindings and reference $ENV_NAME")
        self._record("mcp.secret_get_field", [key], decision="allow", field=field)
        return {"key": key, "field": f.name, "value": f.value or "", "kind": f.kind}

    def policy_show(self) -> dict[str, Any]:
        self._record("mcp.policy_show", [], decision="allow")
        return self.policy.describe()

    def secret_run(self, *, keys: Sequence[str], command: str, args: Sequence[str] = (),
                   timeout: float | None = None, env_prefix: str = "", env: str | None = None,
                   bindings_key: str | None = None, tool: str = "secret_run") -> dict[str, Any]:

        if self.locked is not None:
            self._record(f"mcp.{tool}", list(keys), argv=[command, *args], decision="deny",
                                     reason=f"locked: {self.locked}")
            raise PolicyError(f"{tool} is locked for this session ({self.locked})",
                              hint="start a new session; the access log records why")
        self._check_arguments(tool, [command, *args, env_prefix])
        req = run.RunRequest(patterns=tuple(keys), command=command, args=tuple(args), env_prefix=env_prefix,
                                env_name=env, timeout=timeout, bindings_key=bindings_key)
        result = run.run_agent(self.vault, req, policy=self.policy, redactor=self.redactor,
                                  base_env=self.base_env)
        # A redaction of a secret that was not injected means the command reflected input or read
        # the value some other way: count it as a probe.
        labels = set(_labels_in(result.stdout) + _labels_in(result.stderr))
        injected = set(result.keys)
        foreign = {lbl for lbl in labels if lbl.split(":")[0] not in injected and lbl != "credential"}
        if foreign:
            self._strike(tool, f"output revealed {len(foreign)} secret(s) that were not injected")
        return {
            "exit_code": result.exit_code,
            "stdout": result.stdout.decode("utf-8", errors="replace"),
            "stderr": result.stderr.decode("utf-8", errors="replace"),
            "duration_ms": result.duration_ms,
            "sanitized": True,
            "truncated": result.truncated,
            "timed_out": result.timed_out,
        }

    def secret_generate(self, key: str, *, length: int = 32, charset: str | None = None,
                        expires: str | None = None) -> dict[str, Any]:

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


def _labels_in(output: bytes) -> list[str]:
    import re

    return [m.decode() for m in re.findall(rb"\[REDACTED:([^\]]+)\]", output)]


