"""The module layout the README describes: imports go one way, with no cycle among the
edge_runtime and trainer modules, counting imports inside functions (read from source, so the
trainer is checked without TensorFlow)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
#: Each package's folder: the trainer is a distribution of its own, in train/.
PACKAGES = {"edge_runtime": ROOT / "edge_runtime", "trainer": ROOT / "train" / "trainer"}


def imports_of(path: Path, package: str, modules: set[str]) -> set[str]:
    """The project modules a file imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package if node.level == 1 else (node.module or "")
            if node.level == 1 and node.module:
                base = f"{package}.{node.module}"
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in modules}
    return found


def graph() -> dict[str, set[str]]:
    files = {f"{pkg}.{f.stem}": (f, pkg) for pkg, folder in PACKAGES.items() for f in folder.glob("*.py")
             if f.stem not in ("__init__", "__main__")}
    modules = set(files)
    return {m: imports_of(f, pkg, modules) - {m} for m, (f, pkg) in files.items()}


def cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules along it, or None."""
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(g[m]):
            if state.get(n) == "open":
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        state[m] = "done"
        stack.pop()
        return None

    for m in sorted(g):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_checker_finds_a_cycle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_among_project_modules():
    g = graph()
    assert {"edge_runtime.recognizer", "edge_runtime.service", "trainer.runs", "trainer.train"} <= set(g)
    assert "edge_runtime.engine" in g["edge_runtime.recognizer"]  # the parser sees real imports
    assert cycle(g) is None, f"import cycle: {' -> '.join(cycle(g))}"


def test_the_runtime_never_imports_the_trainer():
    g = graph()
    assert not {m for m in g if m.startswith("edge_runtime.") for n in g[m] if n.startswith("trainer.")}
