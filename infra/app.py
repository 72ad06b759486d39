"""CDK app: one MarginLens stack per environment, `MarginLens-<env>` (`-c env=dev|prod`).

Runs under the CDK CLI (`cdk synth -c env=prod`, see cdk.json) or directly from the repo
root (`python3 infra/app.py [-c env=prod]`), which writes ./cdk.out. Needs a built bundle
in build/lambda (`make build-lambda`); no Docker, no AWS credentials (env-agnostic stack).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INFRA_DIR = ROOT / "infra"
LAMBDA_CODE_DIR = ROOT / "build" / "lambda"
ENVIRONMENTS = ("dev", "prod")

# `python3 infra/app.py` puts infra/ first on sys.path, where infra/constructs would shadow the
# `constructs` library; swap it for the repo root (infra.*) and shared/ (marginlens.*).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != INFRA_DIR]
for _path in (ROOT / "shared", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


def _require_bundle() -> None:
    # Never fall back to the source folders: they lack the arm64 dependencies.
    if not all((LAMBDA_CODE_DIR / name).is_dir() for name in ("functions", "marginlens")):
        sys.exit(
            f"{LAMBDA_CODE_DIR.relative_to(ROOT)} is missing or incomplete: "
            "run `make build-lambda` (python infra/build_lambda.py) first."
        )


def _direct_run_context(argv: list[str]) -> dict[str, Any]:
    """cdk.json context plus `-c key=value` arguments, as the CLI would pass them.

    Under the CLI (CDK_OUTDIR set) the CLI already supplies both: return nothing.
    """
    if "CDK_OUTDIR" in os.environ:
        return {}
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    args = iter(argv)
    for arg in args:
        if arg not in ("-c", "--context"):
            sys.exit(f"unknown argument {arg!r}: only -c key=value is supported")
        key, sep, value = next(args, "").partition("=")
        if not sep:
            sys.exit(f"expected -c key=value after {arg}")
        context[key] = value
    return context


def main(argv: list[str]) -> None:
    _require_bundle()
    context = _direct_run_context(argv)

    # Imported here: importing aws_cdk starts the jsii Node process, not worth it to print an error.
    import aws_cdk as cdk
    from cdk_nag import AwsSolutionsChecks

    from infra.stack import MarginLensStack

    # Without the CLI, App would write to a temp dir; make synth expects ./cdk.out.
    outdir = None if "CDK_OUTDIR" in os.environ else str(ROOT / "cdk.out")
    app = cdk.App(context=context, outdir=outdir)

    env_name = app.node.try_get_context("env") or "dev"
    if env_name not in ENVIRONMENTS:
        sys.exit(f"unknown env {env_name!r}: use -c env={'|'.join(ENVIRONMENTS)}")

    MarginLensStack(
        app,
        f"MarginLens-{env_name}",
        lambda_code_dir=str(LAMBDA_CODE_DIR),
        env_name=env_name,
        description=f"MarginLens per-customer AI P&L ({env_name})",
    )
    # cdk-nag v3 is a policy-validation plugin (not an Aspect): an unacknowledged error fails synth.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()


if __name__ == "__main__":
    main(sys.argv[1:])
