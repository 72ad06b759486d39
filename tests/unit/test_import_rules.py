"""The import rules hold, and a tool enforces them: import-linter's contracts (pyproject.toml) fail
on an upward import, and no module anywhere is part of an import circle."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": f"{tree / 'shared'}:{tree}", "PATH": str(LINT_IMPORTS.parent)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "shared" / "marginlens", tmp_path / "shared" / "marginlens")
    shutil.copytree(ROOT / "functions", tmp_path / "functions")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contracts_hold_on_the_tree(tree_copy: Path) -> None:
    result = _lint(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        (
            "core/upward.py",
            "from marginlens.api import app",
            "marginlens.core is not allowed to import marginlens.api",
        ),
        (
            "pricing/upward.py",
            "from marginlens.usage import ledger",
            "marginlens.pricing is not allowed to import marginlens.usage",
        ),
        (
            "usage/cli_use.py",
            "from marginlens.cli import main",
            "marginlens.usage is not allowed to import marginlens.cli",
        ),
    ],
)
def test_an_upward_import_breaks_the_contract(tree_copy: Path, module: str, line: str, broken: str) -> None:
    (tree_copy / "shared" / "marginlens" / module).write_text(line + "\n")
    result = _lint(tree_copy)
    assert result.returncode != 0
    assert broken in result.stdout, result.stdout


def test_no_module_is_part_of_an_import_circle() -> None:
    for path in (ROOT / "shared", ROOT):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    graph = grimp.build_graph("marginlens", "functions", "infra")
    circles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            chain = graph.find_shortest_chain(importer=imported, imported=importer)
            if chain is not None:
                circles.append(" -> ".join((importer, *chain)))
    assert circles == []
