"""pyproject.toml is the source of the dependencies; environment.yml and the lock must agree with it."""
from __future__ import annotations

import tomllib

import yaml
from packaging.requirements import Requirement

from .conftest import REPO


def _pyproject_requirements() -> dict[str, str]:
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"]) + [r for extra in meta["optional-dependencies"].values() for r in extra]
    out = {}
    for r in reqs:
        req = Requirement(r)
        out[req.name.lower()] = str(req.specifier)
    return out


def _conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict) or dep.split("=")[0] in ("python", "pip"):
            continue
        req = Requirement(dep)  # the packages are written in pip's syntax, which conda also reads
        out[req.name.lower()] = str(req.specifier)
    return out


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    py = _pyproject_requirements()
    conda = _conda_requirements()
    assert set(py) == set(conda), (set(py) ^ set(conda))
    for name, spec in py.items():
        assert conda[name] == spec, f"{name}: pyproject {spec!r} vs environment.yml {conda[name]!r}"


def test_environment_yml_uses_conda_forge_and_python_311():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    assert "python=3.11" in env["dependencies"]


def test_lock_pins_every_direct_dependency_within_its_range():
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version.strip()
    for name, spec in _pyproject_requirements().items():
        assert name in pins, f"{name} is not pinned in requirements.lock"
        assert Requirement(f"{name}{spec}").specifier.contains(pins[name], prereleases=True), (name, spec, pins[name])
