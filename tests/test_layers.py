"""The import layers of DESIGN.md, enforced: a module that crosses a line fails here."""

from __future__ import annotations

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "replikv"

# package (or top-level module) -> replikv packages it may import (besides itself)
EVERYTHING = {"core", "kv", "protocols", "storage", "check", "sim", "runtime", "resp", "client", "cluster",
              "jepsen", "bench", "report", "cli", "schemes", "__version__"}
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "kv": {"core"},
    "protocols": {"core"},
    "storage": {"core"},
    "check": {"core", "kv"},
    "schemes": {"core"},
    "sim": {"core", "kv", "protocols", "storage", "check", "schemes"},
    "runtime": {"core", "kv", "protocols", "storage", "check", "schemes"},
    "resp": {"core", "kv", "runtime"},
    "client": {"core", "kv", "resp"},
    "cluster": {"core", "kv", "storage", "resp", "schemes"},
    "jepsen": {"core", "kv", "check", "client", "cluster", "schemes"},
    "report": {"core", "kv", "check", "sim", "jepsen", "schemes"},  # jepsen: compare --real
    "bench": EVERYTHING - {"cli"},
    "cli": EVERYTHING,
    "__init__": set(),
}
# test code: never imported by product code (planted bugs and toy schemes reach the
# registry only through entry points, docs/design.md "Where schemes come from")
TEST_CODE = {"replikv_testkit", "tests", "replikv.testing"}
# modules that make a result depend on something other than the inputs
HIDDEN_INPUTS = {"time", "asyncio", "socket", "threading", "os", "logging", "random", "datetime", "secrets", "uuid", "subprocess", "multiprocessing"}
PURE = {"core", "kv", "protocols", "sim"}


def _imports(tree: ast.AST) -> list[tuple[str, int]]:
    """(module, line) of every import outside an ``if TYPE_CHECKING:`` block."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "replikv" and node.level == 0:
            found.extend((f"replikv.{alias.name}", node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _modules() -> list[pathlib.Path]:
    return sorted(p for p in SRC.rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_module_respects_layers(path: pathlib.Path) -> None:
    parts = path.relative_to(SRC).parts
    package = parts[0] if len(parts) > 1 else path.stem
    assert package in ALLOWED, f"{package}/ is not in the layer table: give it a line in ALLOWED and docs/design.md"
    tree = ast.parse(path.read_text(), filename=str(path))
    for module, line in _imports(tree):
        top = module.split(".")[0]
        where = f"{path.relative_to(SRC)}:{line} imports {module}"
        assert not any(module == t or module.startswith(t + ".") for t in TEST_CODE), (
            f"{where}: product code never imports test code")
        if top == "replikv":
            target = module.split(".")[1] if "." in module else ""
            if target == package:
                if package == "protocols" and len(parts) > 2 and len(module.split(".")) > 2:
                    # a scheme never imports another scheme
                    assert module.split(".")[2] == parts[1], f"{where}: schemes never import each other"
                continue
            assert target in ALLOWED[package], f"{where}: {package}/ may import only {sorted(ALLOWED[package])}"
        elif package in PURE:
            assert top not in HIDDEN_INPUTS, f"{where}: {package}/ must not use hidden inputs ({top})"


def test_the_scan_catches_a_crossing() -> None:
    """The checker itself can fail: a planted bad import is found."""
    tree = ast.parse("import time\nfrom replikv.sim import x\nif TYPE_CHECKING:\n    import random\n")
    assert [m for m, _ in _imports(tree)] == ["time", "replikv.sim"]
    tree = ast.parse("from replikv import schemes, testing\n")
    assert [m for m, _ in _imports(tree)] == ["replikv.schemes", "replikv.testing"]


def test_product_code_importing_test_code_fails(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A product module that imports the test kit or replikv.testing fails the layer test."""
    for source in ("from replikv.testing import planted\n", "import replikv_testkit.planted\n",
                   "from replikv import testing\n"):
        fake = tmp_path / "replikv" / "runtime" / "planted_door.py"
        fake.parent.mkdir(parents=True, exist_ok=True)
        fake.write_text(source)
        monkeypatch.setattr(__import__(__name__), "SRC", tmp_path / "replikv")
        with pytest.raises(AssertionError, match="product code never imports test code"):
            test_module_respects_layers(fake)
