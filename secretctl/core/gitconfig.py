"""Which git config keys run a program, and what secretctl passes to git so that none does.

A same-user process (an agent's shell) can write the vault's ``.git/config`` and
``~/.gitconfig``. Any key below makes git start a program of its choosing inside
secretctl's own git calls. This module is pure: it reads git's own listing of the
config (``git config --list --show-scope -z``, so includes and quoting are git's, not
ours) and decides:

- which repo-local keys secretctl must refuse to work with (it did not set them);
- which ``-c key=value`` overrides neutralize the rest for one git call.

The list follows git 2.39's config documentation (git-config(1), githooks(5),
gitattributes(5)); keys that only a person's own command can trigger (difftool, aliases)
are refused in the vault's config too, because a person runs git there as well.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from secretctl.core.frozen import frozen

# The values secretctl itself writes (service/team.configure_repo): exactly these are allowed.
OURS: Mapping[str, str] = {
    "diff.age.textconv": "secretctl textconv",
    "merge.secretctl-age.driver": "secretctl merge-driver age %O %A %B %P",
    "merge.secretctl-meta.driver": "secretctl merge-driver meta %O %A %B %P",
}

# Keys (section and key lower-cased, as git prints them) whose value is a program to run.
_FIXED = frozenset({
    "core.fsmonitor", "core.hookspath", "core.pager", "core.editor", "core.askpass", "core.sshcommand",
    "core.gitproxy", "core.alternaterefscommand", "sequence.editor", "diff.external", "credential.helper",
    "gpg.program", "gpg.openpgp.program", "gpg.x509.program", "gpg.ssh.program", "gpg.ssh.defaultkeycommand",
    "uploadpack.packobjectshook", "interactive.difffilter", "web.browser", "sendemail.smtpserver",
    "sendemail.sendmailcmd", "include.path",
})
# <section>.<name>.<key>: the middle part is any name.
_PER_NAME = {
    "filter": frozenset({"clean", "smudge", "process"}),
    "diff": frozenset({"textconv", "command"}),
    "merge": frozenset({"driver"}),
    "credential": frozenset({"helper"}),
    "remote": frozenset({"uploadpack", "receivepack", "vcs", "proxy"}),
    "difftool": frozenset({"cmd", "path"}),
    "mergetool": frozenset({"cmd", "path"}),
    "man": frozenset({"cmd", "path"}),
    "browser": frozenset({"cmd", "path"}),
    "tar": frozenset({"command"}),
    "includeif": frozenset({"path"}),
    "submodule": frozenset({"update"}),
}
# Keys that name a program only in some values: a pager.<cmd> may be a boolean, an alias
# runs a shell only when it starts with "!", submodule.<name>.update only as "!command".
_BOOLEANS = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0", ""})
# Scopes git reports for the repository's own files (the vault's .git/config and config.worktree).
LOCAL_SCOPES = frozenset({"local", "worktree"})


@frozen
class ConfigEntry:
    """One line of `git config --list --show-scope`."""

    scope: str  # system | global | local | worktree | command
    name: str  # as git prints it: section and key lower-cased, the middle part as written
    value: str


def parse_listing(raw: bytes) -> list[ConfigEntry]:
    """``git config --list --show-scope -z`` output: ``scope\0name\nvalue\0`` per entry (a key
    given without ``=`` has no newline and no value)."""
    parts = raw.decode("utf-8", errors="surrogateescape").split("\0")
    out: list[ConfigEntry] = []
    for scope, record in zip(parts[0::2], parts[1::2], strict=False):
        if not scope:
            continue
        name, _, value = record.partition("\n")
        out.append(ConfigEntry(scope, name, value))
    return out


def _split(name: str) -> tuple[str, str | None, str]:
    section, _, rest = name.partition(".")
    middle, dot, key = rest.rpartition(".")
    return section.lower(), (middle if dot else None), key.lower()


def runs_program(name: str, value: str) -> bool:
    """Whether git (or a person's git command) would start a program named by this entry."""
    section, middle, key = _split(name)
    if middle is None:
        if f"{section}.{key}" in _FIXED:
            return True
        if section == "alias":
            return value.lstrip().startswith("!")
        return section == "pager" and value.lower() not in _BOOLEANS
    if f"{section}.{middle.lower()}.{key}" in _FIXED:
        return True
    if section == "alias":
        return value.lstrip().startswith("!")
    if section == "pager":
        return value.lower() not in _BOOLEANS
    if section == "submodule" and key == "update":
        return value.lstrip().startswith("!")
    return key in _PER_NAME.get(section, frozenset())


def is_ours(entry: ConfigEntry) -> bool:
    return OURS.get(_canonical(entry.name)) == entry.value


def _canonical(name: str) -> str:
    section, middle, key = _split(name)
    return f"{section}.{key}" if middle is None else f"{section}.{middle}.{key}"


def untrusted_local(entries: Sequence[ConfigEntry]) -> list[ConfigEntry]:
    """Entries of the repository's own config that run a program and that secretctl did not write."""
    return [e for e in entries if e.scope in LOCAL_SCOPES and runs_program(e.name, e.value) and not is_ours(e)]


# Overrides that make a fixed key inert. An empty credential.helper empties git's list of
# helpers; /dev/null as a hooks directory holds no hook; `true` as an editor changes nothing.
_NEUTRAL = (
    ("core.fsmonitor", "false"),
    ("core.pager", "cat"),
    ("core.editor", "true"),
    ("sequence.editor", "true"),
    ("core.alternateRefsCommand", ""),
    ("uploadpack.packObjectsHook", ""),
    ("protocol.ext.allow", "never"),
    ("core.attributesFile", "/dev/null"),
)
# What a person's own setup legitimately needs when git talks to a remote (their ssh
# command, credential helper) or signs a commit (their gpg): kept for those calls only.
_NETWORK = (("core.sshCommand", "ssh"), ("credential.helper", ""), ("core.askPass", ""), ("core.gitProxy", ""))
_SIGNING = (("gpg.program", "gpg"), ("gpg.openpgp.program", "gpg"), ("gpg.x509.program", "gpgsm"),
            ("gpg.ssh.program", "ssh-keygen"), ("gpg.ssh.defaultKeyCommand", ""))


def overrides(entries: Sequence[ConfigEntry], *, hooks: bool = False, network: bool = False,
              signing: bool = False) -> list[str]:
    """``-c`` arguments for one git call that leave no config key able to start a program,
    except our own merge drivers and textconv, hooks when ``hooks`` (a commit or a push the
    person's hooks should see), and the person's remote and signing tools where asked."""
    pairs: list[tuple[str, str]] = list(_NEUTRAL)
    if not hooks:
        pairs.append(("core.hooksPath", "/dev/null"))
    if not network:
        pairs += _NETWORK
    if not signing:
        pairs += _SIGNING
    seen: set[str] = set()
    for e in entries:
        section, middle, key = _split(e.name)
        if middle is None or e.scope == "command" or is_ours(e):
            continue
        if section == "filter" and middle not in seen:
            seen.add(middle)
            pairs += [(f"filter.{middle}.{k}", "") for k in ("clean", "smudge", "process")]
        elif section == "merge" and key == "driver":
            pairs.append((f"merge.{middle}.driver", "false"))  # a failing driver: a conflict, never a run
        elif section == "diff" and key == "textconv":
            pairs.append((f"diff.{middle}.textconv", ""))
    args: list[str] = []
    for k, v in pairs:
        args += ["-c", f"{k}={v}"]
    return args
