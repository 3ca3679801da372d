"""The package's shape: layer contracts, one composition root, no reaching into another module's privates."""
from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import ROOT

PACKAGE = ROOT / "shared" / "crisiscomms"
CAPABILITIES = ("listening", "scoring", "detection", "statements", "audit", "aws", "adapters", "models")


@functools.lru_cache(maxsize=1)
def _modules() -> tuple[tuple[str, Path, ast.Module], ...]:
    """Every module of the package, parsed once for all the tests here (none changes a tree)."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).with_suffix("").as_posix()
        name = "crisiscomms." + relative.replace("/", ".").removesuffix(".__init__")
        out.append((name, path, ast.parse(path.read_text(encoding="utf-8"))))
    return tuple(out)


def test_the_import_linter_contracts_hold() -> None:
    # In its own process: import-linter configures logging, which would disable loggers other tests read.
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_each_capability_package_says_what_it_owns_and_may_import() -> None:
    for package in CAPABILITIES:
        doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text(encoding="utf-8"))) or ""
        assert len(doc) > 80, f"{package}/__init__.py needs a docstring"
        assert "import" in doc.lower(), f"{package}/__init__.py: say what it may import"


def test_no_module_imports_another_modules_private_names() -> None:
    offenders = []
    for name, _path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("crisiscomms"):
                if node.module == name:
                    continue
                offenders += [f"{name}: from {node.module} import {a.name}" for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
            if isinstance(node, ast.ImportFrom) and node.level:
                offenders += [f"{name}: relative import of {a.name}" for a in node.names if a.name.startswith("_")]
    assert not offenders, offenders


def test_only_settings_and_wiring_read_the_environment() -> None:
    readers = []
    for name, _path, tree in _modules():
        if name in ("crisiscomms.settings", "crisiscomms.wiring", "crisiscomms.tracing", "crisiscomms.coldstart"):
            # tracing reads the per-invocation trace header Lambda sets in the environment; coldstart
            # whether it runs in Lambda, at a handler module's first line, before any settings exist
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" \
                    and node.attr in ("environ", "getenv", "putenv"):
                readers.append(name)
    assert not readers, readers


def test_storage_conditions_live_only_in_the_data_access_layer() -> None:
    leaks = []
    for name, path, _tree in _modules():
        if name.startswith("crisiscomms.aws"):
            continue
        text = path.read_text(encoding="utf-8")
        for marker in ("ConditionExpression", "attribute_not_exists", "UpdateExpression", "KeyConditionExpression"):
            if marker in text:
                leaks.append(f"{name}: {marker}")
    assert not leaks, leaks


@pytest.mark.parametrize("package", ["scoring"])
def test_no_function_in_scoring_is_over_sixty_lines(package: str) -> None:
    long = []
    for name, _path, tree in _modules():
        if not name.startswith(f"crisiscomms.{package}"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if length > 60:
                    long.append(f"{name}.{node.name}: {length} lines")
    assert not long, long


def test_caches_are_not_kept_in_module_globals() -> None:
    """Process state lives in the one container `crisiscomms.wiring` builds and resets."""
    cached = []
    for name, _path, tree in _modules():
        if name == "crisiscomms.wiring":
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for decorator in node.decorator_list:
                    text = ast.unparse(decorator)
                    if "lru_cache" in text or text.endswith("cache"):
                        cached.append(f"{name}.{node.name}")
    assert not cached, cached
