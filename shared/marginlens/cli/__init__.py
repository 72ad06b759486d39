"""The `marginlens` command line: one module per command group, all registered by `main`.

`common` holds what every command shares (API config, the request builder, output helpers);
`main` the root app and its options. `marginlens.cli:main` is the console script.
"""

from marginlens.cli.main import app, main, root

__all__ = ["app", "main", "root"]
