"""The sanitizer (pure core): removes every trace of known secrets from output, as a stream.

One idea per module: ``views`` (how output is read), ``forms`` (the few literals per value),
``engine`` (the compiled Hyperscan matcher), ``detectors`` (credentials not in the vault),
``decode`` (encoded runs, decoded only where they could hide a form), ``redactor`` (one buffer),
``stream`` (a stream). docs/redaction.md says what is caught and what is not.
"""

from secretctl.core.redact.forms import MIN_REDACTABLE, forms_of
from secretctl.core.redact.matches import Match
from secretctl.core.redact.redactor import CREDENTIAL, Layered, Redactor, check_redactable
from secretctl.core.redact.stream import MAX_HOLD, PassThrough, RedactStream

__all__ = ["CREDENTIAL", "MAX_HOLD", "MIN_REDACTABLE", "Layered", "Match", "PassThrough", "RedactStream", "Redactor",
           "check_redactable", "forms_of"]
