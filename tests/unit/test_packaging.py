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


def test_the_reporters_charting_library_is_pinned_for_it_alone() -> None:
    """functions/reporter/requirements.txt holds exactly pyproject's `reporter` extra; the shared layer has none of it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extra = project["optional-dependencies"]["reporter"]
    lines = (ROOT / "functions" / "reporter" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert [line for line in lines if line.strip() and not line.startswith("#")] == extra
    assert all("==" in pin for pin in extra)
    names = {pin.split("==")[0].lower() for pin in extra}
    layer = LAYER_REQUIREMENTS.read_text(encoding="utf-8").lower()
    assert not any(name in layer for name in names), "the charting library is not in the shared layer"
    assert not names & {pin.split("==")[0].lower() for pin in project["dependencies"]}
    assert set(extra) <= set(project["optional-dependencies"]["dev"]), "the tests render reports with the same pin"
    for function in (ROOT / "functions").iterdir():
        if function.name != "reporter" and (function / "requirements.txt").exists():
            text = (function / "requirements.txt").read_text(encoding="utf-8").lower()
            assert not any(name in text for name in names), function.name


def test_ci_installs_chromium_before_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "apt-get install" in ci and "chromium" in ci
    assert ci.index("chromium") < ci.index("python3 tasks.py test")
    assert "CRISISCOMMS_REQUIRE_CHROMIUM" in ci, "under CI a missing browser fails the browser test"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "chromium" in readme.lower() and ".ci/run" in readme
