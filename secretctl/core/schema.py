"""YAML, in one place: the safe loader, the dumper, and a typed node view whose every error
names the file and line. Sidecars, the policy, the vault config and the merge driver's inputs
all go through here, so a malformed file is always one SecretctlError, never a yaml exception.

``yaml`` is imported lazily: the common reads (config, simple sidecars) never need it, and its
import costs about 10 ms of a command's start-up.
"""

from __future__ import annotations

from secretctl.errors import SecretctlError, VaultCorruptError

TYPE_CHECKING = False  # typing costs every start ~3 ms to import: for mypy only
if TYPE_CHECKING:
    from typing import Any

_FIX_HINT = "fix the file by hand or restore it with git"


def _translate(exc: Exception, source: str, error: type[SecretctlError], hint: str) -> SecretctlError:
    """The one translation of a yaml error: file, line (when known), never the file's text."""
    mark = getattr(exc, "problem_mark", None)
    line = f":{mark.line + 1}" if mark is not None else ""
    return error(f"{source}{line}: not valid YAML", hint=hint)


def load(data: bytes, *, source: str, error: type[SecretctlError] = VaultCorruptError,
         hint: str = _FIX_HINT) -> Any:
    """Plain data (dicts, lists, scalars) from YAML; never constructs objects."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(data, Loader=loader)  # noqa: S506 - CSafeLoader/SafeLoader: no object construction
    except yaml.YAMLError as exc:
        raise _translate(exc, source, error, hint) from None


def compose(data: bytes, *, source: str, error: type[SecretctlError] = VaultCorruptError,
            hint: str = _FIX_HINT) -> Node | None:
    """The node tree, for parsers that report the line of every problem (the policy)."""
    import yaml

    try:
        root = yaml.compose(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise _translate(exc, source, error, hint) from None
    return None if root is None else Node(root, source, error, hint)


def dump(data: Any) -> str:
    """Block-style YAML, keys in the given order, Unicode kept."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return str(yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True,
                         default_flow_style=False, width=100))


class Node:
    """A typed view of a yaml node with its line, so every error names the line."""

    def __init__(self, node: Any, source: str, error: type[SecretctlError] = VaultCorruptError,
                 hint: str = _FIX_HINT) -> None:
        self.node = node
        self.source = source
        self._error = error
        self._hint = hint

    def _child(self, node: Any) -> Node:
        return Node(node, self.source, self._error, self._hint)

    @property
    def line(self) -> int:
        return int(self.node.start_mark.line) + 1

    def fail(self, msg: str) -> SecretctlError:
        return self._error(f"{self.source}:{self.line}: {msg}", hint=self._hint)

    def is_null(self) -> bool:
        import yaml

        return isinstance(self.node, yaml.ScalarNode) and self.node.tag == "tag:yaml.org,2002:null"

    def mapping(self, what: str) -> dict[str, Node]:
        import yaml

        if not isinstance(self.node, yaml.MappingNode):
            raise self.fail(f"{what} must be a mapping")
        out: dict[str, Node] = {}
        for k, v in self.node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise self._child(k).fail(f"{what}: keys must be text")
            if k.value in out:
                raise self._child(k).fail(f"{what}: duplicate key {k.value!r}")
            out[str(k.value)] = self._child(v)
        return out

    def seq(self, what: str) -> list[Node]:
        import yaml

        if not isinstance(self.node, yaml.SequenceNode):
            raise self.fail(f"{what} must be a list")
        return [self._child(v) for v in self.node.value]

    def text(self, what: str) -> str:
        import yaml

        if not isinstance(self.node, yaml.ScalarNode) or (self.node.tag not in (
            "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
        ) and not self.node.tag.endswith(":str")):
            raise self.fail(f"{what} must be text")
        return str(self.node.value)

    def strings(self, what: str) -> tuple[str, ...]:
        return tuple(n.text(f"{what} entries") for n in self.seq(what))

    def integer(self, what: str) -> int:
        import yaml

        if not isinstance(self.node, yaml.ScalarNode) or self.node.tag != "tag:yaml.org,2002:int":
            raise self.fail(f"{what} must be a whole number")
        return int(self.node.value)

    def boolean(self, what: str) -> bool:
        import yaml

        if not isinstance(self.node, yaml.ScalarNode) or self.node.tag != "tag:yaml.org,2002:bool":
            raise self.fail(f"{what} must be true or false")
        return str(self.node.value).lower() in ("true", "yes", "on")
