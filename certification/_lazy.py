"""Lazy public names for a package (PEP 562): its `__init__.pyi` stub lists them as imports, for readers and type
checkers alike; the package imports each from its module on first use, so `import certification` stays cheap (a DAG
file that needs one constant does not pull in pandas, scikit-learn or MLflow)."""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def attach_stub(
    package: str, init_file: str
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """`__getattr__`, `__dir__` and `__all__` for `package` from the `from X import a, b` lines of its stub."""
    stub = Path(init_file).with_suffix(".pyi")
    origin: dict[str, str] = {}
    for node in ast.parse(stub.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
            origin.update({alias.asname or alias.name: node.module for alias in node.names})

    def __getattr__(name: str) -> Any:
        if name not in origin:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(origin[name]), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(origin)

    return __getattr__, __dir__, sorted(origin)
