"""What programs are (pure data): the ones that print the environment, and the ones that can
run other programs, read or write any file, or open a shell.

This one table is the source for every decision that asks "what is this program really?"
(policy: always-blocked, `default_action: allow`, symlinks and renamed copies). The facts
come from GTFOBins (https://gtfobins.github.io/: the "shell", "command", "file read" and
"file write" functions) and from each program's manual; the grouping is ours. A program is
listed under one kind; two names of one kind (sh and dash, python3 and python3.11) are the
same kind of program, so a symlink from one to the other changes nothing.

Add a program here when its manual or GTFOBins shows it can start another program; the
tests in tests/core/test_programs.py check the table's shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# Print the environment they were given: never runnable under the policy, whatever it says.
ENV_PRINTERS = frozenset({"env", "printenv", "set", "export", "declare", "compgen", "typeset"})

# kind -> names. Every name is the program's file name as installed (no path).
_KINDS: Mapping[str, frozenset[str]] = {
    "shell": frozenset({
        "sh", "bash", "rbash", "dash", "zsh", "ksh", "ksh93", "mksh", "pdksh", "yash", "posh", "ash", "fish", "csh",
        "tcsh", "elvish", "nu", "xonsh", "pwsh", "busybox", "toybox", "exec", "eval", "command", "builtin",
    }),
    "python": frozenset({"python", "python2", "python3", "pypy", "pypy3", "ipython", "ipython3", "pdb", "pdb3"}),
    "perl": frozenset({"perl", "perl5", "cpan", "cpanm"}),
    "ruby": frozenset({"ruby", "irb", "erb", "gem", "bundle", "rake", "pry", "byebug"}),
    "node": frozenset({"node", "nodejs", "deno", "bun", "npm", "npx", "pnpm", "yarn", "corepack"}),
    "php": frozenset({"php", "php-cgi", "composer"}),
    "lua": frozenset({"lua", "luajit", "texlua"}),
    "tcl": frozenset({"tclsh", "wish", "expect"}),
    "jvm": frozenset({"java", "jshell", "jrunscript", "jjs", "groovy", "scala", "kotlin", "clojure"}),
    "other-language": frozenset({
        "R", "Rscript", "julia", "octave", "octave-cli", "gnuplot", "guile", "racket", "sbcl", "clisp", "ghci",
        "runghc", "ocaml", "swipl", "m4",
    }),
    "awk": frozenset({"awk", "gawk", "mawk", "nawk"}),
    # Text tools that run commands or write files: GNU sed `e` and `w`, jq reads any file
    # (--rawfile, --slurpfile, input_filename), ed `!`, editors and pagers `!cmd`.
    "text-tool": frozenset({"sed", "gsed", "jq", "gojq", "yq", "ed", "red", "ex", "vi", "vim", "vimdiff", "view",
                            "rvim", "nvim", "emacs", "emacsclient", "nano", "pico", "joe", "mg", "less", "more",
                            "most", "pg", "man", "info", "pinfo"}),
    # Run the program named in their arguments (env-style wrappers, schedulers, limits).
    "wrapper": frozenset({
        "env", "xargs", "parallel", "find", "time", "timeout", "nice", "ionice", "chrt", "taskset", "setarch",
        "linux32", "linux64", "i386", "x86_64", "uname26", "prlimit", "stdbuf", "unbuffer", "nohup", "setsid",
        "flock", "watch", "script", "run-parts", "start-stop-daemon", "runuser", "setpriv", "capsh", "chroot",
        "unshare", "nsenter", "sudo", "doas", "su", "pkexec", "ld.so", "ld-linux.so.2", "ld-linux-x86-64.so.2",
        "ld-linux-aarch64.so.1", "ld-musl-x86_64.so.1", "strace", "ltrace", "gdb", "lldb", "valgrind", "perf",
        "catchsegv", "rlwrap", "tmux", "screen", "dtach", "logsave", "cpulimit", "systemd-run", "dbus-launch",
        "xdg-open", "crontab", "at", "batch", "entr", "inotifywait", "make", "gmake", "cmake", "ninja", "meson",
    }),
    # Tools with an option that runs a program: tar --to-command/--checkpoint-action, zip -TT,
    # rsync -e, git -c core.pager/alias/!, ssh ProxyCommand, socat EXEC, aria2c hooks...
    "exec-option": frozenset({
        "tar", "gtar", "bsdtar", "zip", "rsync", "ssh", "scp", "sftp", "socat", "aria2c", "wget",
        "mysql", "mariadb", "psql", "sqlite3", "ftp", "telnet", "dpkg", "apt", "apt-get", "pip", "pip3", "pipx",
        "uv", "poetry", "cargo", "go", "gcc", "cc", "g++", "clang", "ld", "docker", "podman", "journalctl",
        "systemctl", "dmesg", "mail", "mutt", "openssl", "busctl", "ansible", "ansible-playbook", "terraform",
        "nmap", "tshark", "tcpdump", "ssh-keygen", "ssh-agent", "gpg", "git"
    }),
}

# Versioned names (python3.11, perl5.36.0, php8.2, node20, ruby3.1, lua5.4, tclsh8.6, pypy3.10...).
_VERSIONED = re.compile(r"(?P<base>python|pypy|perl|php|ruby|node|lua|luajit|tclsh|wish|pip|gawk|vim|java)"
                        r"[0-9][0-9.]*(?:-[a-z]+)?")

KIND_OF: Mapping[str, str] = {name: kind for kind, names in _KINDS.items() for name in names}
EXEC_CAPABLE = frozenset(KIND_OF)


def kind_of(name: str) -> str | None:
    """The kind of an exec-capable program by file name (``python3.11`` is ``python``), else None."""
    if name in KIND_OF:
        return KIND_OF[name]
    m = _VERSIONED.fullmatch(name)
    if m is not None:
        return KIND_OF.get(m.group("base"))
    return None


def is_exec_capable(name: str) -> bool:
    return kind_of(name) is not None


def same_kind(a: str, b: str) -> bool:
    """Two names of one kind of program (sh and dash): a symlink between them changes nothing.
    Wrappers and tools with an exec option are each their own kind: ``nice`` is not ``timeout``."""
    ka, kb = kind_of(a), kind_of(b)
    if ka is None or kb is None or ka != kb:
        return False
    if ka in ("wrapper", "exec-option", "text-tool", "other-language", "jvm"):
        return _base(a) == _base(b)
    return True


def _base(name: str) -> str:
    m = _VERSIONED.fullmatch(name)
    return m.group("base") if m is not None else name
