"""How `secretctl set --field/--public/--template` turn into the fields to store.

Values come from the command line (`--field name=value`: accepted, as secretctl's Go CLI does,
with a warning for a sensitive one, because argv is visible to every user in `ps`), or are read:
`--field name` or `--field name=-`, and a template's required fields not given. On a terminal
each is prompted (hidden when sensitive); otherwise they come from stdin, one line each in
order, or all of stdin when only one field is read (a private key has many lines).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from secretctl.cli.common import read_secret_input, stdin_is_tty
from secretctl.errors import UsageError
from secretctl.service import FieldInput, Secret, check_public, get_template, guess_kind

MAX_STDIN = 1024 * 1024


@dataclass
class _Spec:
    name: str
    value: Secret | None  # None: read it
    sensitive: bool
    kind: str
    aliases: tuple[str, ...] = ()
    required: bool = True


@dataclass
class FieldsInput:
    fields: list[FieldInput]
    bindings: dict[str, str]
    in_argv: list[str] = field(default_factory=list)  # sensitive fields whose value was in argv


def parse_field_args(args: Sequence[str]) -> list[tuple[str, Secret | None]]:
    out: list[tuple[str, Secret | None]] = []
    for a in args:
        name, eq, val = a.partition("=")
        out.append((name, None if not eq or val == "-" else Secret(val.encode())))
    return out


def gather(field_args: Sequence[str], public: Sequence[str], template: str | None,
           binding_args: Sequence[str]) -> FieldsInput:
    given = parse_field_args(field_args)
    public_set = set(public)
    specs: list[_Spec] = []
    bindings: dict[str, str] = {}
    if template is not None:
        tmpl = get_template(template)
        for tf in tmpl.fields:
            match = next((g for g in given if g[0] == tf.name or g[0] in tf.aliases), None)
            if match is not None:
                given.remove(match)
            if match is None and not tf.required and not stdin_is_tty():
                continue  # optional: asked on a terminal, else only when given
            specs.append(_Spec(tf.name, match[1] if match else None, tf.sensitive and tf.name not in public_set,
                               tf.kind, tf.aliases, tf.required))
            if tf.binding:
                bindings[tf.binding] = tf.name
    for name, value in given:
        specs.append(_Spec(name, value, name not in public_set, guess_kind(name)))
    known = {n for s in specs for n in (s.name, *s.aliases)}
    unknown = sorted(public_set - known)
    if unknown:
        raise UsageError(f"--public {unknown[0]}: no such field", hint="--public names a field given with --field")
    for s in specs:
        if not s.sensitive:
            check_public(s.name, s.kind)  # before anyone types a value
    in_argv = [s.name for s in specs if s.value is not None and s.sensitive]
    _read_missing(specs)
    fields = [FieldInput(s.name, s.value, s.sensitive, s.kind, aliases=s.aliases)
              for s in specs if s.value is not None]
    if not fields:
        raise UsageError("no fields given")
    names = {f.name for f in fields}
    # A template's binding goes with its field: an optional field left out takes its binding along.
    bindings = {env: f for env, f in bindings.items() if f in names}
    bindings.update(parse_bindings(binding_args))
    return FieldsInput(fields, bindings, in_argv)


def parse_bindings(args: Sequence[str]) -> dict[str, str]:
    out = {}
    for b in args:
        env, eq, fname = b.partition("=")
        if not eq:
            raise UsageError(f"--binding {b!r}: expected ENV=field")
        out[env] = fname
    return out


def _read_missing(specs: list[_Spec]) -> None:
    todo = [s for s in specs if s.value is None]
    if not todo:
        return
    if stdin_is_tty():
        for s in todo:
            s.value = _prompt(s)
        return
    if len(todo) == 1:
        todo[0].value = read_secret_input(f"{todo[0].name}: ")
        return
    data = sys.stdin.buffer.read(MAX_STDIN + 1)
    if len(data) > MAX_STDIN:
        raise UsageError("more than 1 MiB on stdin for fields")
    lines = [ln.rstrip(b"\r") for ln in data.split(b"\n")]
    if lines and lines[-1] == b"":
        lines.pop()
    names = ", ".join(s.name for s in todo)
    if len(lines) != len(todo) or not all(lines):
        raise UsageError(f"expected {len(todo)} non-empty lines on stdin, one per field in this order: {names}",
                         hint="or give each as --field NAME=VALUE (public ones), or run on a terminal")
    for s, line in zip(todo, lines, strict=True):
        s.value = Secret(line)


def _prompt(s: _Spec) -> Secret | None:
    if s.sensitive:
        if not s.required:
            import getpass

            typed = getpass.getpass(f"{s.name} (optional, hidden): ")
            return Secret(typed.encode()) if typed else None
        return read_secret_input(f"{s.name} (hidden): ")
    typed = input(f"{s.name}{'' if s.required else ' (optional)'}: ")
    if not typed:
        if s.required:
            raise UsageError(f"empty value for field {s.name}")
        return None
    return Secret(typed.encode())
