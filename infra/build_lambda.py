"""Fill build/lambda/ with the Lambda bundle: arm64 wheels of the runtime dependencies
(from pyproject.toml) plus our own packages. Wipes and refills, so it is idempotent.

Run from anywhere: `python infra/build_lambda.py`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
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


def build(out: Path = BUILD_DIR) -> Path:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    deps = runtime_dependencies()
    print(f"Installing {len(deps)} runtime dependencies for cp{PYTHON_VERSION} {PLATFORM} into {out}")
    subprocess.run(  # noqa: S603 - fixed argv, no shell
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--platform",
            PLATFORM,
            "--implementation",
            "cp",
            "--python-version",
            PYTHON_VERSION,
            "--only-binary=:all:",
            "--target",
            str(out),
            # .pyc files would be compiled by this interpreter, not the Lambda's: useless weight.
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

    size = _size_bytes(out)
    print(f"Built {out.relative_to(ROOT)}: {size / 1_048_576:.1f} MiB unzipped")
    if size > LAMBDA_UNZIPPED_LIMIT:
        sys.exit(f"Bundle exceeds Lambda's 250 MiB unzipped limit: {size / 1_048_576:.1f} MiB")
    return out


if __name__ == "__main__":
    build()
