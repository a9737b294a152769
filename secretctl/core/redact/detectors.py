"""Credentials that are not in the vault: detect-secrets' patterns, extended, compiled into Hyperscan.

The maintained set is detect-secrets' plugin denylists (Yelp; AWS, Azure storage, GitHub, GitLab,
Slack, Stripe, OpenAI, npm, PyPI, private-key headers, SendGrid, Twilio, Mailchimp, Discord,
Telegram, Square). Its regexes are read from the installed plugins when the scanner is built
(off the request path: the import costs about 0.2-0.6 s) and compiled into the same kind of
Hyperscan database as everything else; lookarounds, which Hyperscan lacks, are dropped (the
match then ends where the class ends). ``EXTENSIONS`` adds the families the set lacks or matches
too narrowly (fixed lengths where real tokens grew). Heuristic plugins (keywords, entropy, basic
auth, public IPs, Artifactory's bare ``AP...`` words) are left out: they fire on ordinary output.

A detector's ``value`` regex, when set, picks the secret out of the match (``"SecretAccessKey":
"..."`` redacts the value, not the field name).
"""

from __future__ import annotations

import re

from secretctl.core.frozen import frozen

CREDENTIAL = "credential"

_PLUGINS = ("aws", "azure_storage_key", "github_token", "gitlab_token", "slack", "stripe", "openai", "npm",
            "pypi_token", "private_key", "sendgrid", "twilio", "mailchimp", "discord", "telegram_token",
            "square_oauth")
_SERVED = ("requests", "detect_secrets")  # what leaves sys.modules after a read with the stand-in
_LOOKAROUND = r"\(\?<?[!=](?:[^()]|\([^()]*\))*\)"  # compiled where the plugins are read
_B64 = rb"[A-Za-z0-9+/]"
_KEYED_VALUE = r"""[:=]\s*["']?([^"'\s,}]+)"""


@frozen
class Detector:
    family: str
    expression: bytes  # Hyperscan syntax
    caseless: bool = False
    value: str | None = None  # Python regex: group 1 is what to redact inside the match


EXTENSIONS: tuple[Detector, ...] = (
    Detector("aws", rb"(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}"),
    Detector("aws-sts-json", rb"\"(?:SecretAccessKey|SessionToken)\"\s*:\s*\"" + _B64 + rb"{40}", value=_KEYED_VALUE),
    Detector("aws-env", rb"(?:AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|aws_secret_access_key|aws_session_token)"
             rb"[\"']?\s*[:=]\s*[\"']?" + _B64 + rb"{40}", value=_KEYED_VALUE),
    Detector("aws-session-token", rb"(?:FwoGZXIvYXdzE|IQoJb3JpZ2luX2Vj)[A-Za-z0-9/+=]{40}"),
    Detector("aws-ecr", rb"eyJwYXlsb2FkIjoi[A-Za-z0-9/+=]{40}"),
    Detector("gcp", rb"ya29\.[0-9A-Za-z_-]{20}"),
    Detector("gcp-api-key", rb"AIza[0-9A-Za-z_-]{35}"),
    Detector("gcp-sa-key", rb"\"private_key\"\s*:\s*\"-----BEGIN", value=r"""(-----BEGIN.*)"""),
    Detector("azure-client-secret", rb"[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}"),
    Detector("azure-sas", rb"[?&]sig=[A-Za-z0-9%+/=]{30}", value=r"sig=(.*)"),
    Detector("azure-conn", rb"(?:AccountKey|SharedAccessKey)=[A-Za-z0-9+/=]{30}", value=r"Key=(.*)"),
    Detector("github", rb"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}"),
    Detector("github", rb"github_pat_[A-Za-z0-9_]{22}"),
    Detector("gitlab", rb"gl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-[A-Za-z0-9_-]{20}"),
    Detector("slack", rb"xox[abposre]-[A-Za-z0-9-]{10}"),
    Detector("slack", rb"xapp-[0-9]-[A-Za-z0-9-]{10}"),
    Detector("slack", rb"hooks\.slack\.com/services/[A-Za-z0-9/_-]{20}"),
    Detector("stripe", rb"(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16}"),
    Detector("stripe", rb"whsec_[A-Za-z0-9]{24}"),
    Detector("openai", rb"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20}"),
    Detector("anthropic", rb"sk-ant-[a-z]{3,8}[0-9]{2}-[A-Za-z0-9_-]{20}"),
    Detector("npm", rb"npm_[A-Za-z0-9]{36}"),
    Detector("pypi", rb"pypi-AgE[A-Za-z0-9_-]{50}"),
    Detector("vault", rb"hv[sbr]\.[A-Za-z0-9_-]{20}"),
    Detector("jwt", rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8}"),
    Detector("private-key", rb"-----BEGIN [A-Z0-9 ]{0,30}PRIVATE KEY(?: BLOCK)?-----"),
    Detector("private-key", rb"PuTTY-User-Key-File-[0-9]"),
    Detector("kubeconfig", rb"(?:token|id-token|refresh-token|client-key-data|auth-provider-token): [\"']?"
             rb"[A-Za-z0-9._~+/=-]{20}", value=_KEYED_VALUE),
    Detector("age", rb"AGE-SECRET-KEY-1[0-9A-Z]{58}"),
)

# Compiled on first use (module __getattr__ below): a redactor that only checks a command line,
# or finds no credential, never needs them, and compiling them cost every `run` ~0.5 ms.
_PATTERNS = {
    # The words that make a keyed detector fire: a stream holds back a last line that has one
    # until the line ends (the value after it would not be recognised alone).
    "KEYWORDS": rb"(?i)secretaccesskey|sessiontoken|aws_secret_access_key|aws_session_token|private_key|"
                rb"token|client-key-data|accountkey|sharedaccesskey|sig=",
    # A match ends where its token ends: the rules above stop at a minimum length (Hyperscan
    # reports every end, and an open-ended class would report one per byte), and the token is
    # then extended.
    "TOKEN_TAIL": rb"[A-Za-z0-9_\-+/=.~%]*",
    "PEM_BLOCK": rb"-----BEGIN ([A-Z0-9 ]{0,30})PRIVATE KEY( BLOCK)?-----"
                 rb"(?:[A-Za-z0-9+/=\s:,.()\\-]|\\n){0,65536}?-----END \1PRIVATE KEY( BLOCK)?-----",
    "PEM_BODY": rb"(?:[A-Za-z0-9+/=\s:,.()\\-]|\\n){0,65536}",
}

TYPE_CHECKING = False
if TYPE_CHECKING:
    import types
    from collections.abc import Callable

    KEYWORDS: re.Pattern[bytes]
    TOKEN_TAIL: re.Pattern[bytes]
    PEM_BLOCK: re.Pattern[bytes]
    PEM_BODY: re.Pattern[bytes]


def __getattr__(name: str) -> re.Pattern[bytes]:
    if name not in _PATTERNS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    compiled = globals()[name] = re.compile(_PATTERNS[name])  # later reads find it without this call
    return compiled


def _from_detect_secrets() -> list[Detector]:
    """The denylists of detect-secrets' regex plugins (imported here, off the request path)."""
    import importlib
    import sys
    import types

    # The plugins import requests for their verify() calls, which are never made here: with
    # urllib3, ssl and charset_normalizer it was 10 MB of a first `run`'s 47 MB peak (the set is
    # then kept, see shapes.py). A stand-in serves the import and is gone again before any other
    # code could import requests; a process that has it already keeps its own.
    if "requests" in sys.modules:
        return _read_plugins(importlib.import_module)
    before = set(sys.modules)
    sys.modules["requests"] = types.ModuleType("requests")
    try:
        return _read_plugins(importlib.import_module, stand_in=True)
    except Exception:  # noqa: S110 - a plugin that needs requests at import: read again below, with it
        pass
    finally:
        # The plugin modules it served go too: a later importer gets them with the real requests.
        for loaded in [m for m in sys.modules if m not in before and m.partition(".")[0] in _SERVED]:
            del sys.modules[loaded]
    return _read_plugins(importlib.import_module)


def _read_plugins(import_module: Callable[[str], types.ModuleType], *, stand_in: bool = False) -> list[Detector]:
    """``stand_in``: requests is the stand-in, so a plugin that fails to import for any reason but
    its own absence raises (then the caller reads every plugin again with the real requests):
    skipped quietly, it would have left its detectors out of the cached set for good."""
    out = []
    for name in _PLUGINS:
        module_name = f"detect_secrets.plugins.{name}"
        try:
            module = import_module(module_name)
        except ImportError as exc:  # not installed, or a plugin renamed: our extensions still cover it
            if stand_in and exc.name != module_name:
                raise
            continue
        for obj in vars(module).values():
            if isinstance(obj, type) and obj.__module__ == module.__name__ and hasattr(obj, "denylist"):
                for rx in obj.denylist:
                    expr = re.sub(_LOOKAROUND, "", rx.pattern)
                    # Open-ended tails become a minimum (see TOKEN_TAIL) so a long token is one report.
                    expr = re.sub(r"\{(\d+),\d*\}(\)?)$", r"{\1}\2", expr).replace(".*", "").rstrip("+*")
                    value = r"(.*)" if rx.groups == 0 else rx.pattern
                    out.append(Detector(f"detect-secrets:{name}", expr.encode(), bool(rx.flags & re.IGNORECASE),
                                        None if rx.groups == 0 else re.sub(_LOOKAROUND, "", value)))
    return out


def all_detectors() -> list[Detector]:
    return [*_from_detect_secrets(), *EXTENSIONS]
