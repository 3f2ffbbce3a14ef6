"""The layout's rules, read from the source with `ast`: no import cycle between modules of `certification/` (counting
function-local and TYPE_CHECKING imports), no private name or private module used from outside its package, no
Airflow in the library, no environment read outside `config.Settings`, a cheap `import certification`, and a map
(ARCHITECTURE.md, README) that names every folder."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from certification import config
from tests.helpers import REPO

PACKAGE = REPO / "certification"


def _modules(root: Path) -> dict[str, Path]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules(PACKAGE)


def _imports(module: str) -> Iterator[tuple[str, str | None]]:
    """(imported module, imported name or None) for every import statement of `module`, wherever it stands."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                yield (
                    (f"{base}.{alias.name}", None)
                    if f"{base}.{alias.name}" in MODULES
                    else (base, alias.name)
                )


def _edges() -> dict[str, set[str]]:
    return {m: {target for target, _ in _imports(m) if target in MODULES and target != m} for m in MODULES}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(edges)))
    for node in edges:
        if node not in index:
            visit(node)
    return found


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_no_import_cycle_between_modules() -> None:
    assert _cycles(_edges()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_private_name_or_module_is_used_outside_its_package() -> None:
    crossings = []
    for module in MODULES:
        for target, name in _imports(module):
            if target not in MODULES:
                continue
            if name and name.startswith("_") and not name.startswith("__"):
                owner = _package_of(target)
                if not _inside(module, owner):
                    crossings.append(f"{module} imports {target}.{name}")
            private = [i for i, part in enumerate(target.split(".")) if part.startswith("_")]
            if private:
                owner = ".".join(target.split(".")[: private[0]])
                if not _inside(module, owner):
                    crossings.append(f"{module} imports the private module {target}")
    assert crossings == []


def test_the_library_never_imports_airflow() -> None:
    found = [f"{m} imports {t}" for m in MODULES for t, _ in _imports(m) if t.split(".")[0] == "airflow"]
    assert found == []


def _environment_reads(path: Path) -> list[str]:
    """Every use of os.environ or os.getenv, except handing the whole environment on (`dict(os.environ)`,
    `{**os.environ, ...}`) to a child process."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    passed_on = {
        id(arg)
        for node in ast.walk(tree)
        for arg in (
            node.args
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict"
            else [v for k, v in zip(node.keys, node.values, strict=True) if k is None]
            if isinstance(node, ast.Dict)
            else []
        )
    }
    return [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in {"environ", "getenv"}
        and id(node) not in passed_on
    ]


def test_only_config_reads_the_environment() -> None:
    sources = [*PACKAGE.rglob("*.py"), *(REPO / "dags").rglob("*.py"), *(REPO / "plugins").rglob("*.py")]
    reads = [r for path in sources if path.name != "config.py" for r in _environment_reads(path)]
    assert reads == []
    assert _environment_reads(PACKAGE / "config.py")  # the checker sees the reads that are there


def test_every_variable_is_documented_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert [name for name in config.VARIABLES if f"`{name}`" not in readme] == []


def test_importing_the_public_api_stays_cheap() -> None:
    """A DAG file's imports (the package, its settings, the watch list) pull in none of the heavy libraries."""
    probe = (
        "import sys, certification, certification.config, certification.monitoring.watchlist;"
        "certification.settings();"
        "print(sorted({'pandas', 'numpy', 'sklearn', 'mlflow', 'sqlalchemy', 'evidently', 'art'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stderr


def test_no_lazy_name_is_a_module_of_its_package() -> None:
    """Importing a submodule sets it on its package, which would hide a lazily exported name of the same spelling."""
    for stub in PACKAGE.rglob("__init__.pyi"):
        exported = {
            alias.asname or alias.name
            for node in ast.parse(stub.read_text(encoding="utf-8")).body
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        modules = {p.stem for p in stub.parent.glob("*.py")} | {
            p.name for p in stub.parent.iterdir() if p.is_dir()
        }
        assert exported & modules == set(), stub


def test_the_public_api_resolves() -> None:
    import certification

    assert certification.__all__ and all(
        getattr(certification, name) is not None for name in certification.__all__
    )


def test_the_map_names_every_folder() -> None:
    """ARCHITECTURE.md and the README's layout name every package folder of the library and of the Airflow glue."""
    folders = [
        p.relative_to(REPO).as_posix() + "/"
        for root in (PACKAGE, REPO / "plugins" / "certification_airflow")
        for p in sorted({root, *root.rglob("*")})
        if p.is_dir() and (p / "__init__.py").exists()
    ]
    for document in ("ARCHITECTURE.md", "README.md"):
        text = (REPO / document).read_text(encoding="utf-8")
        assert [f for f in folders if f"`{f}`" not in text] == [], document
