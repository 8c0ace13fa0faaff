"""The code itself, read as a syntax tree: no upload can reach eval, exec or a pickle loader, every
transformers loader refuses remote code (and pickled weights, for models), the library never
imports streamlit, and nothing the app or the CLI runs imports the benchmarks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

SOURCES = sorted(
    [*(ROOT / "bertviz_lib").rglob("*.py"), *(ROOT / "app_pages").glob("*.py"), ROOT / "app.py"]
)
BUILTINS_THAT_RUN_CODE = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_MODULES = {"pickle", "dill", "joblib", "marshal", "shelve", "cloudpickle"}


LIBRARY = sorted((ROOT / "bertviz_lib").rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    """The top-level names of every module `path` imports, at any depth of its code."""
    tree = ast.parse(path.read_text())
    imported = {
        a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    return imported | {
        (n.module or "").split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and not n.level
    }


def calls(path: Path) -> list[ast.Call]:
    return [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)]


def called_name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def receiver(call: ast.Call) -> str:
    func = call.func
    return ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""


def keywords(call: ast.Call) -> dict[str, str]:
    return {k.arg: ast.unparse(k.value) for k in call.keywords if k.arg}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_code_runs_from_data(path):
    assert not imported_modules(path) & FORBIDDEN_MODULES
    for call in calls(path):
        name, owner = called_name(call), receiver(call)
        builtin = isinstance(call.func, ast.Name) and name in BUILTINS_THAT_RUN_CODE
        risky = builtin or name == "read_pickle" or (name in {"load", "loads"} and owner != "json")
        assert not risky, f"{path.name}:{call.lineno}: {ast.unparse(call)}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_transformers_loader_refuses_remote_code_and_pickles(path):
    for call in calls(path):
        if called_name(call) != "from_pretrained":
            continue
        given = keywords(call)
        assert given.get("trust_remote_code") == "False", f"{path.name}:{call.lineno}"
        if "Model" in receiver(call):
            assert given.get("use_safetensors") == "True", f"{path.name}:{call.lineno}"


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_library_never_imports_streamlit(path):
    assert "streamlit" not in imported_modules(path)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_neither_the_app_nor_the_cli_imports_the_benchmarks(path):
    assert "benchmarks" not in imported_modules(path)


def test_the_checks_read_every_folder_of_the_library():
    folders = {path.parent.name for path in LIBRARY}
    assert {"data", "model", "patches", "train", "runs", "explain", "learn", "quiz"} <= folders
