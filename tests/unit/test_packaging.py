"""Pins live in pyproject.toml; the layer's requirements are generated from them and must agree."""
from __future__ import annotations

import tomllib

from crisiscomms_local.layer import LAYER_REQUIREMENTS, expected

from ..conftest import ROOT


def test_layer_requirements_match_the_pins() -> None:
    assert LAYER_REQUIREMENTS.read_text(encoding="utf-8") == expected(), "run: python3 tasks.py layer-requirements"


def test_every_dependency_is_pinned_exactly() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for requirement in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert "==" in requirement, f"{requirement} is not pinned"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python3 tasks.py test" in readme.split("\n## ", 1)[0], "README opens with the test command"
    assert "python3 tasks.py drill" in readme.split("\n## ", 1)[0], "README opens with the drill command"
    assert "python3 tasks.py test" in ci


def test_the_domain_package_never_imports_local_tooling() -> None:
    for path in (ROOT / "shared" / "crisiscomms").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import crisiscomms_local" not in text and "from crisiscomms_local" not in text, path
        assert "import moto" not in text and "from moto" not in text, path
