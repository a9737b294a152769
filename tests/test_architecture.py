"""The layers hold: import-linter's contracts pass, a deliberate violation breaks them, no cycles."""

from __future__ import annotations

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


def test_only_gitrepo_runs_git() -> None:
    runners = [p.relative_to(REPO).as_posix() for p in _sources()
               if any(s in p.read_text() for s in ('["git"', "['git'", '"git", '))]
    assert runners == ["secretctl/infra/gitrepo.py"]
