"""The sanitizer (pure core): removes every trace of known secrets from output, as a stream.

One idea per module: ``views`` (how output is read), ``forms`` (the few literals per value),
``engine`` (the compiled Hyperscan matcher), ``detectors`` (credentials not in the vault),
``decode`` (encoded runs, decoded only where they could hide a form), ``redactor`` (one buffer),
``stream`` (a stream). docs/redaction.md says what is caught and what is not.
"""

from secretctl.core.redact.forms import MIN_REDACTABLE, forms_of
from secretctl.core.redact.matches import Match
from secretctl.core.redact.redactor import CREDENTIAL, Layered, Redactor, check_redactable, load_detectors_meanwhile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from secretctl.core.redact.stream import MAX_HOLD, PassThrough, RedactStream


def __getattr__(name: str) -> object:
    """``stream``'s names, imported on first use: a run whose command prints nothing (and a
    command line's check) never needs the stream or its expressions (bench_unlock's `run`)."""
    if name in ("MAX_HOLD", "PassThrough", "RedactStream"):
        from secretctl.core.redact import stream

        return getattr(stream, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CREDENTIAL", "MAX_HOLD", "MIN_REDACTABLE", "Layered", "Match", "PassThrough", "RedactStream", "Redactor",
           "check_redactable", "forms_of", "load_detectors_meanwhile"]
