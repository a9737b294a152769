"""``@frozen``, ``@mutable`` and ``@mutable_kw``: ``@dataclass(frozen=True)``, ``@dataclass`` and
``@dataclass(kw_only=True)`` for the records on the start-up paths of `run`, `get` and `set`
(pure core).

Importing dataclasses imports inspect, ast, dis and tokenize, and each class it makes runs its
generated code through the compiler: of the ~256 M instructions a `set` spends importing
(valgrind), 106 M were dataclasses' (the import and 23 classes). These make the same classes:
``__init__`` from the annotations (defaults, ``field(default_factory=...)`` and ``kw_only``
allowed; a subclass's fields follow its base's, keyword-only ones last), and dataclass's
``__repr__``, ``__eq__``, ``__hash__`` (frozen; a mutable record is unhashable, as a dataclass
with ``eq``) and ``__match_args__``; assigning a field of a frozen record raises, as a frozen
dataclass does; :func:`replace` is ``dataclasses.replace``. No ``ClassVar`` fields, no
``__post_init__``. tests/core/test_frozen.py compares them with dataclass. Unlike dataclasses,
a class's ``__init__`` is compiled when its first record is made, not when the class is.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy only (hyperscan loads typing on `run`'s path; not every command loads hyperscan)
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    _T = TypeVar("_T", bound=type)
    _V = TypeVar("_V")
else:
    def dataclass_transform(**_kw: object) -> object:
        return lambda f: f


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], _V]) -> _V:
    """A field whose default is made per instance (``dataclasses.field(default_factory=...)``)."""
    return _Factory(default_factory)  # type: ignore[return-value]  # stands for the value, as dataclasses.field does


def _setattr(self: object, name: str, value: object) -> None:
    raise AttributeError(f"cannot assign to field {name!r}")


def _delattr(self: object, name: str) -> None:
    raise AttributeError(f"cannot delete field {name!r}")


def _make(cls: _T, *, is_frozen: bool, kw_only: bool) -> _T:
    base: tuple[tuple[str, bool], ...] = ()
    defaults: dict[str, object] = {}
    for parent in cls.__mro__[1:]:
        if "__record_fields__" in parent.__dict__:
            base, defaults = parent.__dict__["__record_fields__"], dict(parent.__dict__["__record_defaults__"])
            break
    known = {n for n, _ in base}
    own = tuple(n for n in cls.__dict__.get("__annotations__", {}) if n not in known)  # noqa: RUF063 - importing inspect is the cost avoided
    fields = (*base, *((n, kw_only) for n in own))
    names = tuple(n for n, _ in fields)
    for n in names:
        if n in cls.__dict__:
            defaults[n] = cls.__dict__[n]
    ns: dict[str, Any] = {"_set": object.__setattr__}

    def param(n: str) -> str:
        if n not in defaults:
            return n
        ns[f"_d_{n}"] = defaults[n]
        return f"{n}=_d_{n}"

    positional = [param(n) for n, kw in fields if not kw]
    keywords = [param(n) for n, kw in fields if kw]
    params = ", ".join(positional + (["*", *keywords] if keywords else []))
    lines = []
    for n in names:
        value = f"_d_{n}.make() if {n} is _d_{n} else {n}" if isinstance(defaults.get(n), _Factory) else n
        lines.append(f"\n    _set(self, {n!r}, {value})" if is_frozen else f"\n    self.{n} = {value}")
    # As dataclasses does: a generated __init__ is as fast as a written one. It is compiled when
    # the first record is made, not when the class is (each compile is ~30 us, and most record
    # classes a short command imports never get an instance: a `set` makes 7 of its 26).
    body = "".join(lines) or "\n    pass"
    source = f"def __init__(self, {params}):{body}\n"

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        exec(source, ns)  # noqa: S102 - the source is built from the class's own field names
        made = ns["__init__"]
        made.__qualname__ = f"{cls.__qualname__}.__init__"
        setattr(cls, "__init__", made)  # noqa: B010 - mypy refuses assigning a method
        made(self, *args, **kwargs)

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

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    methods: list[tuple[str, Any]] = [("__init__", __init__), ("__repr__", __repr__), ("__eq__", __eq__)]
    if is_frozen:
        methods += [("__hash__", __hash__), ("__setattr__", _setattr), ("__delattr__", _delattr)]
    else:
        methods.append(("__hash__", None))  # a mutable dataclass with eq is unhashable
    for name, fn in methods:
        setattr(cls, name, fn)
    for n, value in defaults.items():
        if isinstance(value, _Factory) and n in cls.__dict__:
            delattr(cls, n)  # as dataclasses: no class attribute stands for a made default
    setattr(cls, "__record_fields__", fields)  # noqa: B010 - mypy refuses the plain assignment to a type
    setattr(cls, "__record_defaults__", defaults)  # noqa: B010 - as above
    setattr(cls, "__match_args__", tuple(n for n, kw in fields if not kw))  # noqa: B010 - as above
    return cls


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def frozen(cls: _T) -> _T:
    """``@dataclass(frozen=True)``."""
    return _make(cls, is_frozen=True, kw_only=False)


@dataclass_transform(field_specifiers=(field,))
def mutable(cls: _T) -> _T:
    """``@dataclass``."""
    return _make(cls, is_frozen=False, kw_only=False)


@dataclass_transform(kw_only_default=True, field_specifiers=(field,))
def mutable_kw(cls: _T) -> _T:
    """``@dataclass(kw_only=True)``."""
    return _make(cls, is_frozen=False, kw_only=True)


def replace(obj: _V, /, **changes: Any) -> _V:
    """A copy of the record ``obj`` with ``changes`` (``dataclasses.replace``)."""
    fields = type(obj).__record_fields__  # type: ignore[attr-defined]  # set by _make
    unknown = changes.keys() - {n for n, _ in fields}
    if unknown:
        raise TypeError(f"{type(obj).__qualname__} has no field {sorted(unknown)[0]!r}")
    args = [changes[n] if n in changes else getattr(obj, n) for n, kw in fields if not kw]
    kwargs = {n: changes[n] if n in changes else getattr(obj, n) for n, kw in fields if kw}
    return type(obj)(*args, **kwargs)
