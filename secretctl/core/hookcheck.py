"""What may be committed to a vault (the pre-commit / pre-push check), given file contents.

Every file must be one of: a valid age file named ``*.age`` encrypted to exactly the members
of its directory (no passphrase stanza), a sidecar that validates against its schema and
holds nothing value-like, a well-formed ``.age-recipients``, or a known config file. No
symlinks. No plaintext file may hold a credential (AWS keys, tokens, private keys: the
redactor's detectors, called from :func:`credential_findings` alone). With a redactor (identity
unlocked, or ``--deep``), no staged text may contain a current secret value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable

from secretctl.core import agefile, audit, fields, keys, meta, recipients
from secretctl.core.frozen import frozen
from secretctl.core.policy import load_policy
from secretctl.core.redact import CREDENTIAL, Redactor
from secretctl.errors import SecretctlError

TYPE_CHECKING = False  # importing typing costs every hook (git runs one per commit) ~3 ms: for mypy only
if TYPE_CHECKING:
    from secretctl.core.recipients import RecipientsFile
    from secretctl.core.redact import Redactor

SYMLINK_MODE = "120000"
KNOWN_FILES = {".gitattributes", ".gitignore", "README.md", ".pre-commit-config.yaml", ".secretctl/config.yaml",
               ".secretctl/policy.yaml"}
_TOKEN = re.compile(r"[A-Za-z0-9+/=_\-.~!@#$%^&*]{20,}")
# What a detected credential is, by how it starts: named in the message instead of any of its text.
_CREDENTIAL_KINDS = (
    (("AKIA", "ASIA", "AGPA", "AROA"), "an AWS access key id"),
    (("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"), "an AWS secret access key"),
    (("FwoGZXIvYXdzE", "IQoJb3JpZ2luX2Vj"), "an AWS session token"),
    (("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), "a GitHub token"),
    (("xox", "hooks.slack.com"), "a Slack token or webhook"),
    (("sk_live_", "rk_live_"), "a Stripe key"),
    (("AIza",), "a Google API key"),
    (("eyJ",), "a JSON web token"),
    (("AGE-SECRET-KEY-1",), "an age secret key"),
    (("-----BEGIN",), "a private key"),
)
_DETECTOR: list[Redactor] = []


@frozen
class StagedFile:
    path: str
    mode: str
    data: bytes


@frozen
class Problem:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def _entropy(s: str) -> float:
    counts: dict[str, int] = {}
    for c in s:
        counts[c] = counts.get(c, 0) + 1
    return -sum(n / len(s) * math.log2(n / len(s)) for n in counts.values())


def credential_findings(data: bytes) -> list[tuple[int, str]]:
    """(line, kind) of every credential-shaped string in ``data``: the one place the hooks call
    the detectors, so the detector set can change without touching the checks."""

    if not _DETECTOR:
        _DETECTOR.append(Redactor.build({}))  # no vault values: the credential rules alone
    out = []
    for m in _DETECTOR[0].find(data):
        if m.label != CREDENTIAL:
            continue
        head = data[m.start : m.start + 32].decode(errors="replace")
        kind = next((k for starts, k in _CREDENTIAL_KINDS if head.startswith(starts)), "a credential")
        out.append((data.count(b"\n", 0, m.start) + 1, kind))
    return out


def value_like(text: str) -> bool:
    """A token that looks like a credential rather than prose: 20+ characters of mixed classes
    with high entropy (a heuristic: it also flags some hashes and ids; move those to notes
    elsewhere or shorten them)."""
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok.startswith(("http://", "https://")) or ("/" in tok and tok.count("/") > 2):
            continue
        classes = sum(bool(re.search(p, tok)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
        if classes >= 3 and _entropy(tok) >= 3.8:
            return True
    return False


POLICY = ".secretctl/policy.yaml"


def recipients_candidates(path: str) -> list[str]:
    """The .age-recipients files that could govern ``path``, nearest first."""
    parts = path.split("/")[:-1]
    out = []
    while True:
        out.append("/".join([*parts, recipients.RECIPIENTS_FILE]))
        if not parts:
            return out
        parts.pop()


def governing(read: Callable[[str], bytes | None]) -> Callable[[str], RecipientsFile | None]:
    """``recipients_for`` for :func:`check_files`: the nearest recipients file ``read(path)`` finds
    (in the index, or in a commit), each parsed once (None when it does not parse)."""
    parsed: dict[str, RecipientsFile | None] = {}

    def recipients_for(path: str) -> RecipientsFile | None:
        for rp in recipients_candidates(path):
            data = read(rp)
            if data is None:
                continue
            if rp not in parsed:
                try:
                    parsed[rp] = recipients.parse_recipients_file(data, source=rp)
                except SecretctlError:
                    parsed[rp] = None
            return parsed[rp]
        return None

    return recipients_for


def policy_scripts(data: bytes | None) -> frozenset[str]:
    """Scripts a policy allows by path (``./deploy.sh``) may live in the vault."""
    if data is None:
        return frozenset()
    try:
        policy = load_policy(data, POLICY)
    except SecretctlError:
        return frozenset()
    return frozenset(c.removeprefix("./") for c in policy.allowed_commands if "/" in c)


def reads_values(mode: str, path: str) -> bool:
    """Whether :func:`check_files` looks for current values in this file (plain text, not a
    symlink): the caller decrypts every value for a redactor only when some file needs it."""
    return mode != SYMLINK_MODE and not path.endswith(keys.SECRET_SUFFIX)


def check_files(
    files: Iterable[StagedFile],
    *,
    recipients_for: Callable[[str], RecipientsFile | None],
    redactor: Redactor | None = None,
    script_paths: frozenset[str] = frozenset(),
) -> list[Problem]:
    """Problems with the given files (staged blobs, or the whole tree for ``--all``)."""

    problems: list[Problem] = []
    for f in files:
        p = f.path
        if f.mode == SYMLINK_MODE:
            problems.append(Problem(p, "symlinks are not allowed in a vault"))
            continue
        if not p.endswith(keys.SECRET_SUFFIX):
            # Every plaintext file, whatever else is wrong with it. Line and kind only: the
            # string itself may be a live credential.
            problems += [Problem(p, f"line {line}: holds what looks like {kind}; credentials belong in the vault "
                                    "(secretctl set KEY), never in plaintext")
                         for line, kind in credential_findings(f.data)]
        try:
            if p.endswith(keys.SECRET_SUFFIX):
                if keys.key_from_path(p) is None:
                    problems.append(Problem(p, "not a valid key name"))
                    continue
                header = agefile.parse_header(f.data, source=p)
                if header.has_scrypt():
                    problems.append(Problem(p, "encrypted to a passphrase (scrypt), not to the vault's members"))
                    continue
                rfile = recipients_for(p)
                if rfile is None:
                    problems.append(Problem(p, "no .age-recipients governs this file"))
                elif header.recipient_stanza_count() != len(rfile.recipients):
                    problems.append(Problem(p, f"encrypted to {header.recipient_stanza_count()} recipients, but its "
                                               f"directory has {len(rfile.recipients)}: run secretctl reencrypt"))
                continue
            if p.endswith(keys.META_SUFFIX):
                parsed = meta.parse_meta(f.data, source=p)
                legacy = fields.legacy_problem(parsed)
                if legacy is not None:
                    problems.append(Problem(p, f"sidecar {legacy}"))
                    continue
                texts = [("notes", parsed.notes or ""), ("url", parsed.url or "")]
                texts += [(f"field {fl.name}", fl.hint or "") for fl in parsed.fields]
                for where, t in texts:
                    if value_like(t):
                        # Name the place, never any part of the string: it may be a real credential.
                        problems.append(Problem(p, f"sidecar holds a value-like string in {where}; values belong "
                                                   "in the .age file"))
                        break
            elif p == recipients.RECIPIENTS_FILE or p.endswith("/" + recipients.RECIPIENTS_FILE):
                recipients.parse_recipients_file(f.data, source=p)
            elif p.startswith(".secretctl/audit/") and p.endswith(".jsonl"):
                audit.verify_chain(f.data, source=p)
            elif p == ".secretctl/policy.yaml":

                load_policy(f.data, p)
            elif p in KNOWN_FILES or p in script_paths:
                pass
            else:
                problems.append(Problem(p, "not a vault file (secrets go in *.age files via secretctl set)"))
                continue
        except SecretctlError as exc:
            problems.append(Problem(p, exc.message.removeprefix(p + ": ").removeprefix(p)))
            continue
        if redactor is not None and reads_values(f.mode, p):
            found = redactor.contains(f.data)
            if found:
                problems.append(Problem(p, f"contains the value of {found[0]} in plaintext"))
    return problems
