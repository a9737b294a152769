"""How a rule reads a command's arguments (pure): paths normalized first, `args_allow`
anchored token by token, `deny_args` found in every spelling of a flag.

- ``normalize``: a token holding a path has ``//``, ``/./`` and ``..`` folded lexically
  (also after ``--flag=``), so ``/proc/./1/environ`` is ``/proc/1/environ`` to every rule.
- ``args_allow``: a pattern is a list of tokens matched one to one against the arguments,
  from the first to the last (anchored). A token is a glob over one argument. A glob never
  matches a flag (an argument starting with ``-``) unless the pattern token itself starts
  with ``-``. A whole-token ``*`` matches one or more non-flag arguments; ``**`` matches
  anything left, flags included (say so explicitly to admit flags).
- ``deny_args``: an entry is a list of tokens. Its words must appear in the arguments in that
  order (not necessarily next to each other); each of its flags may appear anywhere, in any
  spelling: ``--flag``, ``--flag=x``, ``-flag`` (Go), an unambiguous prefix ``--fl``
  (GNU getopt, argparse), and for a one-letter flag ``-o``: ``-oVALUE`` and ``-xo`` clusters.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Sequence

_BLOCKED = re.compile(
    r"/proc/+(?:\d+|self|thread-self|\*|\[)"  # another process's (or our own) /proc entry
    r"|/dev/fd/|/dev/std(?:in|out|err)\b"
    r"|(?:^|[^a-z0-9_])file:", re.I)


def normalize(arg: str) -> str:
    """Fold ``//``, ``/./`` and ``..`` in a token that holds a path (URLs are left alone)."""
    if "/" not in arg or "://" in arg:
        return arg
    prefix = ""
    if arg.startswith("-") and "=" in arg:
        prefix, _, arg = arg.partition("=")
        prefix += "="
    if "/" not in arg:
        return prefix + arg
    norm = posixpath.normpath(arg)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    if arg.endswith("/") and not norm.endswith("/"):
        norm += "/"
    return prefix + norm


def reads_process_state(args: Sequence[str]) -> bool:
    """Does any argument (as written or normalized) name /proc/<pid>, /dev/fd or a file: URL?"""
    return any(_BLOCKED.search(a) or _BLOCKED.search(normalize(a)) for a in args)


def _is_flag(tok: str) -> bool:
    return tok.startswith("-") and tok != "-"


def allows(pattern: str, args: Sequence[str]) -> bool:
    """Does the anchored, token-wise ``pattern`` admit exactly these arguments?"""
    return _match(pattern.split(), [normalize(a) for a in args])


def _match(pat: list[str], args: list[str]) -> bool:
    if not pat:
        return not args
    head, rest = pat[0], pat[1:]
    if head == "**":
        return True
    if head == "*":
        # one or more non-flag arguments
        i = 0
        while i < len(args) and not _is_flag(args[i]):
            i += 1
            if _match(rest, args[i:]):
                return True
        return False
    if not args:
        return False
    tok = args[0]
    if _is_flag(tok) and not head.startswith("-"):
        return False
    return fnmatch.fnmatchcase(tok, head) and _match(rest, args[1:])


def denied_by(entry: str, args: Sequence[str]) -> bool:
    """Does the ``deny_args`` entry match these arguments in any spelling?"""
    toks = entry.split()
    norm = [normalize(a) for a in args]
    words = [t for t in toks if not _is_flag(t)]
    flags = [t for t in toks if _is_flag(t)]
    if not toks:
        return False
    operands = [a for a in norm if not _is_flag(a)]
    # A flag's value may be a word of the entry (--context prod): count values as words too.
    values = [a.partition("=")[2] for a in norm if _is_flag(a) and "=" in a]
    if words and not _subsequence(words, operands + values) and not _subsequence(words, norm):
        return False
    return all(any(_flag_spelled(f, a) for a in norm) for f in flags)


def _subsequence(needle: Sequence[str], hay: Sequence[str]) -> bool:
    it = iter(hay)
    return all(any(w == h for h in it) for w in needle)


def _flag_spelled(flag: str, arg: str) -> bool:
    name = flag.lstrip("-").partition("=")[0]
    if not name or not _is_flag(arg) or arg == "--":
        return False
    body = arg.lstrip("-").partition("=")[0]
    if len(name) == 1:
        if arg.startswith("--"):
            return body == name
        # -o, -oVALUE, -xo (a cluster of one-letter flags)
        letters = re.match(r"[A-Za-z0-9]*", arg[1:])
        return body == name or arg[1:].startswith(name) or (letters is not None and name in letters.group(0))
    # --flag, -flag, --flag=x, and an unambiguous prefix (--fla) of at least 2 letters
    return body == name or (len(body) >= 2 and name.startswith(body) and arg.startswith("--"))
