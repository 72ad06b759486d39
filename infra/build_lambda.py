"""Fill build/lambda/ with the Lambda bundle: arm64 wheels of the runtime dependencies
(from pyproject.toml) plus our own packages, and their bytecode for the Lambda's Python. Wipes and
refills, so it is idempotent.

Run from anywhere: `python infra/build_lambda.py` (`--host DIR`: the same bundle for this machine,
for the runtime's Python when it is installed here, else for this interpreter; bench/coldstart.py
measures such a bundle, tests/infra/test_bundle.py imports one).

Bytecode: Lambda's /var/task is read-only, so a bundle without .pyc files is compiled again on every
cold start (for this stack about as long as all the imports themselves). The build compiles it
with the runtime's interpreter (`MARGINLENS_LAMBDA_PYTHON`, `python3.13` on the PATH, or a pyenv
install of 3.13) in unchecked-hash mode:
valid whatever the zip does to file times, and never stale, since a bundle is never edited.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / "build" / "lambda"

# The Lambda runtime the stack deploys (infra/constructs/api.py reads this): wheels must match it.
PYTHON_VERSION = "3.13"
PLATFORM = "manylinux2014_aarch64"  # ARM_64 (Graviton)
LAMBDA_UNZIPPED_LIMIT = 250 * 1_048_576  # zip deployment package limit, unzipped

# Copied next to site-packages, so handlers import `marginlens.*` and `functions.*` from the root.
SOURCES = {ROOT / "shared" / "marginlens": "marginlens", ROOT / "functions": "functions"}
# Never run on Lambda: the CLI and the local stack (moto, typer and rich are not even installed).
LOCAL_ONLY_PACKAGES = ("cli", "local")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")


def _ignore(directory: str, names: list[str]) -> set[str]:
    ignored = set(_IGNORE(directory, names))
    if Path(directory) == ROOT / "shared" / "marginlens":
        ignored |= {name for name in names if name in LOCAL_ONLY_PACKAGES}
    return ignored


def copy_sources(out: Path) -> None:
    """Our own packages into the bundle, without what only runs on a developer's machine."""
    for src, name in SOURCES.items():
        shutil.copytree(src, out / name, ignore=_ignore)


def runtime_dependencies(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    with pyproject.open("rb") as fh:
        deps: list[str] = tomllib.load(fh)["project"]["dependencies"]
    # boto3 stays in the bundle: pinning our own copy beats whatever version the runtime ships.
    return deps


def _size_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@dataclass(frozen=True)
class Target:
    """The interpreter a bundle is built for."""

    python_version: str  # "3.13"
    platform: str | None  # a pip platform tag; None: this machine's
    interpreter: str | None  # compiles the bytecode; None: none found, the bundle ships without


def _interpreter_for(python_version: str) -> str | None:
    """An interpreter of exactly `python_version` on this machine, if there is one."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [
        os.environ.get("MARGINLENS_LAMBDA_PYTHON"),
        f"python{python_version}",
        *sorted(str(path) for path in pyenv.glob(f"versions/{python_version}.*/bin/python{python_version}")),
    ]
    for candidate in candidates:
        if not candidate or shutil.which(candidate) is None:
            continue
        probe = subprocess.run(  # noqa: S603 - an interpreter path, fixed arguments
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == python_version:
            return candidate
    return None


def lambda_target() -> Target:
    return Target(PYTHON_VERSION, PLATFORM, _interpreter_for(PYTHON_VERSION))


def host_target() -> Target:
    return Target(f"{sys.version_info.major}.{sys.version_info.minor}", None, sys.executable)


def runtime_target_here() -> Target:
    """The Lambda runtime's Python on this machine when there is one (what bench/coldstart.py
    measures with), else this interpreter."""
    interpreter = _interpreter_for(PYTHON_VERSION)
    return Target(PYTHON_VERSION, None, interpreter) if interpreter else host_target()


def build(out: Path = BUILD_DIR, target: Target | None = None) -> Path:
    target = target or lambda_target()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    deps = runtime_dependencies()
    where = f"cp{target.python_version} {target.platform or 'this machine'}"
    print(f"Installing {len(deps)} runtime dependencies for {where} into {out}")
    platform_args = (
        ["--platform", target.platform, "--implementation", "cp", "--python-version", target.python_version]
        if target.platform
        else []
    )
    # A bundle for this machine is installed by its own interpreter's pip (its tags are the target's).
    installer = sys.executable if target.platform else (target.interpreter or sys.executable)
    subprocess.run(  # noqa: S603 - fixed argv, no shell
        [
            installer,
            "-m",
            "pip",
            "install",
            *platform_args,
            "--only-binary=:all:",
            "--target",
            str(out),
            # pip would compile with this interpreter; the bytecode is compiled below, for the target's.
            "--no-compile",
            "--disable-pip-version-check",
            "--quiet",
            *deps,
        ],
        check=True,
    )
    # Console scripts of the dependencies are never run on Lambda.
    shutil.rmtree(out / "bin", ignore_errors=True)

    copy_sources(out)
    compile_bytecode(out, target)

    size = _size_bytes(out)
    print(f"Built {out}: {size / 1_048_576:.1f} MiB unzipped")
    if size > LAMBDA_UNZIPPED_LIMIT:
        sys.exit(f"Bundle exceeds Lambda's 250 MiB unzipped limit: {size / 1_048_576:.1f} MiB")
    return out


def compile_bytecode(out: Path, target: Target) -> None:
    if target.interpreter is None:
        print(
            f"warning: no python{target.python_version} here (set MARGINLENS_LAMBDA_PYTHON): the bundle "
            "ships without bytecode, and every cold start compiles it",
            file=sys.stderr,
        )
        return
    subprocess.run(  # noqa: S603 - an interpreter path, fixed arguments
        [
            target.interpreter,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(out),
        ],
        check=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Build the Lambda bundle.")
    parser.add_argument("--host", type=Path, metavar="DIR", help="build for this machine into DIR")
    args = parser.parse_args()
    if args.host:
        build(args.host, runtime_target_here())
    else:
        build()
