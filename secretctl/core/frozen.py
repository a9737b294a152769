"""``@frozen``: ``@dataclass(frozen=True)`` for the small records on `run`'s start-up path (pure core).

Importing dataclasses imports inspect, ast, dis and tokenize: ~8 ms of every `run`, whose fast
path (service/fastrun.py) needs a few value records and nothing else of it. This makes the same
class: ``__init__`` from the annotations (defaults allowed), and dataclass's ``__repr__``,
``__eq__``, ``__hash__`` and ``__match_args__``; assigning a field raises, as a frozen
dataclass does. Field defaults must be immutable (no ``field(default_factory=...)``): a record
that needs one stays a dataclass. tests/core/test_frozen.py compares it with dataclass.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy only (hyperscan loads typing on `run`'s path; not every command loads hyperscan)
    from typing import Any, TypeVar, dataclass_transform

    _T = TypeVar("_T", bound=type)
else:
    def dataclass_transform(**_kw: object) -> object:
        return lambda f: f


def _setattr(self: object, name: str, value: object) -> None:
    raise AttributeError(f"cannot assign to field {name!r}")


def _delattr(self: object, name: str) -> None:
    raise AttributeError(f"cannot delete field {name!r}")


@dataclass_transform(frozen_default=True)
def frozen(cls: _T) -> _T:
    names = tuple(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063 - importing inspect is the cost avoided
    defaults = {n: cls.__dict__[n] for n in names if n in cls.__dict__}
    params = ", ".join(f"{n}=_d_{n}" if n in defaults else n for n in names)
    body = "".join(f"\n    _set(self, {n!r}, {n})" for n in names) or "\n    pass"
    ns: dict[str, Any] = {"_set": object.__setattr__, **{f"_d_{n}": v for n, v in defaults.items()}}
    # As dataclasses does: a generated __init__ is as fast as a written one (Match is made per hit).
    exec(f"def __init__(self, {params}):{body}\n", ns)  # noqa: S102 - the source is built from the class's own field names

    def values(self: Any) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n in names)

    def __repr__(self: Any) -> str:
        return f"{type(self).__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return bool(values(self) == values(other))

    def __hash__(self: Any) -> int:
        return hash(values(self))

    ns["__init__"].__qualname__ = f"{cls.__qualname__}.__init__"
    for name, fn in (("__init__", ns["__init__"]), ("__repr__", __repr__), ("__eq__", __eq__),
                     ("__hash__", __hash__), ("__setattr__", _setattr), ("__delattr__", _delattr)):
        setattr(cls, name, fn)
    setattr(cls, "__match_args__", names)  # noqa: B010 - mypy refuses the plain assignment to a type
    return cls
