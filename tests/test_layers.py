"""The layering holds: the contracts in pyproject.toml's ``[tool.importlinter]``.

``domain`` imports no web framework, database or HTTP client; ``services`` never import
the web layer, the CLI or the composition root; capabilities depend downwards only; the
simulator knows none of the product's internals. A new import that breaks one fails here.
"""

from __future__ import annotations

from pathlib import Path

from importlinter import cli

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept(capsys):
    code = cli.lint_imports(
        config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True
    )
    report = capsys.readouterr().out
    assert code == 0, report
    assert "0 broken" in report
