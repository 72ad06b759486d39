"""The SDK packages install on their own: `pip install ./sdk/python` into a clean virtualenv (and
the Python the SDK supports at its oldest, when this machine has it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = (
    "import marginlens_sdk, pathlib; "
    "assert marginlens_sdk.__version__ == '0.1.0'; "
    "assert (pathlib.Path(marginlens_sdk.__file__).parent / 'py.typed').exists(); "
    "c = marginlens_sdk.MarginLens(api_key='k', url='http://127.0.0.1:9'); "
    "assert c.track('acct', 'gpt-4o-mini', 1, 1) is not None; c.close(0.1); print('ok')"
)


def _install_and_import(python: str, target: Path) -> str:
    subprocess.run([python, "-m", "venv", str(target)], check=True)
    pip = target / "bin" / "python"
    subprocess.run(
        [
            str(pip),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(ROOT / "sdk" / "python"),
        ],
        check=True,
    )
    done = subprocess.run(
        [str(pip), "-I", "-c", CHECK], capture_output=True, text=True, check=True, cwd=target
    )
    return done.stdout.strip()


def test_pip_installs_the_python_sdk_into_a_clean_environment(tmp_path: Path) -> None:
    assert venv  # the standard library's, as a user's `python -m venv`
    assert _install_and_import(sys.executable, tmp_path / "env") == "ok"


def test_the_python_sdk_runs_on_python_3_9(tmp_path: Path) -> None:
    candidates = [str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.9.*/bin/python3.9"))]
    candidates += [found] if (found := shutil.which("python3.9")) else []
    runnable = [c for c in candidates if subprocess.run([c, "-c", "0"], capture_output=True).returncode == 0]
    oldest = runnable[0] if runnable else None
    if oldest is None:
        pytest.skip("no Python 3.9 on this machine")
    assert _install_and_import(oldest, tmp_path / "env39") == "ok"
