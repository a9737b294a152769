"""The layers hold: import-linter's contracts pass, a deliberate violation breaks them, no cycles."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
                          cwd=root, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "secretctl", tmp_path / "secretctl", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contracts_hold_on_the_package(package_copy: Path) -> None:
    proc = _lint(package_copy)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("core/keys.py", "from secretctl.service import vault", "Layers import only downward"),
    ("infra/store.py", "from secretctl.service import run", "Layers import only downward"),
    ("core/meta.py", "import subprocess", "The core is pure"),
    ("core/envmap.py", "from secretctl.infra import settings", "The core is pure"),
    ("cli/audit.py", "from secretctl.infra import settings", "Front ends import only the service"),
    ("cli/main.py", "from secretctl.core.secret import Secret", "Front ends import only the service"),
    ("mcp/server.py", "import secretctl.core.keys", "Front ends import only the service"),
])
def test_a_deliberate_violation_breaks_a_contract(package_copy: Path, module: str, line: str, contract: str) -> None:
    target = package_copy / "secretctl" / module
    target.write_text(target.read_text() + f"\n{line}  # deliberate violation\n")
    proc = _lint(package_copy)
    assert proc.returncode != 0
    broken = [ln for ln in proc.stdout.splitlines() if ln.rstrip().endswith("BROKEN")]
    assert any(contract in ln for ln in broken) or contract in proc.stdout.split("Broken contracts")[-1], proc.stdout


def test_no_import_cycle_inside_the_package() -> None:
    import grimp

    # Type-only imports (under TYPE_CHECKING) never run: they are not cycles.
    graph = grimp.build_graph("secretctl", exclude_type_checking_imports=True)
    modules = sorted(m for m in graph.modules if m.startswith("secretctl"))
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.find_modules_directly_imported_by(m)):
            if not n.startswith("secretctl") or n == m:
                continue
            if state.get(n) == 1:
                cycle = [*stack[stack.index(n):], n]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in modules:
        if m not in state:
            visit(m)


def _sources() -> list[Path]:
    return sorted(p for p in (REPO / "secretctl").rglob("*.py") if "__pycache__" not in p.parts)


def test_only_settings_reads_the_process_environment() -> None:
    readers = [p.relative_to(REPO).as_posix() for p in _sources()
               if any(s in p.read_text() for s in ("os.environ", "os.getenv", "environb"))]
    assert readers == ["secretctl/infra/settings.py"]


def test_only_the_store_takes_file_locks() -> None:
    lockers = [p.relative_to(REPO).as_posix() for p in _sources() if "fcntl.flock" in p.read_text()]
    assert lockers == ["secretctl/infra/store.py"]


def test_only_the_schema_module_imports_yaml() -> None:
    importers = [p.relative_to(REPO).as_posix() for p in _sources() if "import yaml" in p.read_text()]
    assert importers == ["secretctl/core/schema.py"]


@pytest.mark.parametrize("name", ["record_access", "RunCheck", "policy.check("])
def test_front_ends_leave_access_records_and_run_decisions_to_the_service(name: str) -> None:
    fronts = [p for p in _sources() if p.parts[-2] in ("cli", "mcp")]
    assert [p.name for p in fronts if name in p.read_text()] == []


# The one module that starts git; the other git modules (gitpack, gitcommit, gitobjects, gitrange)
# and the service run git only through its hardened `gitrepo.git`.
GIT_STARTER = "secretctl/infra/gitrepo.py"
_SPAWNERS = {"run", "Popen", "call", "check_call", "check_output", "execv", "execvp", "execvpe", "execl", "execlp",
             "spawnv", "spawnvp", "spawnlp", "posix_spawn", "posix_spawnp", "which"}


def _starts_git(tree: ast.AST) -> bool:
    """An argv whose program is git (``["git", ...]``, ``("git", ...)``), or git named as the
    program of a process call (``os.execvp("git", ...)``, ``shutil.which("git")``)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
            first = node.elts[0]
            if isinstance(first, ast.Constant) and first.value == "git":
                return True
        if isinstance(node, ast.Call) and node.args:
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            first = node.args[0]
            if (name in _SPAWNERS and isinstance(first, ast.Constant) and isinstance(first.value, str)
                    and first.value.split(" ", 1)[0] in ("git", "/usr/bin/git")):
                return True
    return False


def _git_starters(package: Path) -> list[str]:
    return sorted(p.relative_to(package.parent).as_posix() for p in package.rglob("*.py")
                  if "__pycache__" not in p.parts and _starts_git(ast.parse(p.read_text())))


def test_only_gitrepo_starts_git() -> None:
    assert _git_starters(REPO / "secretctl") == [GIT_STARTER]


@pytest.mark.parametrize(("module", "line"), [
    ("service/team.py", 'subprocess.run(["git", "fetch"], check=False)'),
    ("infra/gitpack.py", 'subprocess.Popen(("git", "index-pack", "--stdin"))'),
    ("infra/runner.py", 'os.execvp("git", ["git", "status"])'),
    ("cli/gitcmds.py", 'subprocess.check_output("git rev-parse HEAD", shell=True)'),
])
def test_a_git_call_outside_gitrepo_breaks_the_rule(package_copy: Path, module: str, line: str) -> None:
    target = package_copy / "secretctl" / module
    target.write_text(target.read_text() + f"\n\ndef _planted() -> None:\n    {line}  # deliberate violation\n")
    assert _git_starters(package_copy / "secretctl") == sorted([GIT_STARTER, f"secretctl/{module}"])


def test_the_service_reexports_resolve_and_cost_nothing_until_used() -> None:
    """Front ends reach the layers below through secretctl/service/__init__.py: every name there
    is the real object, and importing the package imports none of them (nor typing: the CLI's
    fast path avoids it)."""
    probe = (
        "import importlib, sys\n"
        "import secretctl.service as s\n"
        "below = ('secretctl.core', 'secretctl.infra', 'typing')\n"
        "early = sorted(m for m in sys.modules if m.startswith(below))\n"
        "print(early)\n"
        "for name, (mod, attr) in s._REEXPORTS.items():\n"
        "    m = importlib.import_module(mod)\n"
        "    assert getattr(s, name) is (getattr(m, attr) if attr else m), name\n"
        "try:\n"
        "    s.not_a_reexport\n"
        "except AttributeError:\n"
        "    print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "ok"]
