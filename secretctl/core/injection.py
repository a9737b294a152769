"""What a run puts in its child's environment (pure core): each name checked, a name two labels
claim refused, a value too short to redact refused, and every sensitive value kept for the
redactor. `run`'s plan (service/run.py) and its start-up fast path (service/fastrun.py) both
inject through this class, so the two cannot differ in what they accept."""

from __future__ import annotations

from secretctl.core import envmap
from secretctl.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy only (hyperscan loads typing on `run`'s path; not every command loads hyperscan)
    from secretctl.core.secret import Secret


class Injection:
    """The environment being built: ``env`` (name -> text) and ``values`` (label -> value, the
    sensitive ones only: what the output and the logged command line are checked for)."""

    def __init__(self, *, allow_short: bool) -> None:
        self.allow_short = allow_short
        self.env: dict[str, str] = {}
        self.values: dict[str, Secret] = {}
        self._owner: dict[str, str] = {}

    def add(self, name: str, value: Secret, label: str, sensitive: bool = True) -> None:
        envmap.check_injectable(name)
        if name in self.env and self._owner[name] != label:
            raise UsageError(f"{self._owner[name]} and {label} both map to {name}",
                             hint="select fewer keys, or rename one")
        if sensitive:
            if not self.allow_short:
                from secretctl.core.redact import check_redactable

                check_redactable(label, value)
            self.values[label] = value
        self.env[name] = value.reveal_text()
        self._owner[name] = label
