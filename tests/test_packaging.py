"""What an operator installs: the wheel, its name and extras, the pins and the licence."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import mailproc
from mailproc.errors import StoreError
from mailproc.storage.db import make_engine

REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_a_postgresql_url_without_psycopg_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # what `import psycopg` finds uninstalled

    with pytest.raises(StoreError, match=r"pip install 'mailproc-desk\[postgresql\]'"):
        make_engine("postgresql://desk:secret@127.0.0.1:5432/mailproc")


def test_the_distribution_name_is_the_one_the_code_tells_operators() -> None:
    assert PROJECT["name"] == mailproc.DISTRIBUTION == "mailproc-desk"


def test_the_licence_file_is_the_apache_2_licence_that_pyproject_declares() -> None:
    text = (REPO / "LICENSE").read_text(encoding="utf-8")

    assert PROJECT["license"] == "Apache-2.0"
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_constraints_pin_every_runtime_dependency() -> None:
    pins = {}
    for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            pins[canonicalize_name(requirement.name)] = str(requirement.specifier)
    runtime = [*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["postgresql"]]

    unpinned = [
        name
        for name in (canonicalize_name(Requirement(line).name) for line in runtime)
        if not pins.get(name, "").startswith("==")
    ]

    assert not unpinned, f"not in constraints.txt (run `make constraints`): {unpinned}"


@pytest.mark.slow
def test_the_wheel_carries_the_data_folders_and_leaves_postgresql_to_its_extra(
    tmp_path: Path,
) -> None:
    # Without build isolation: hatchling comes with the test extra, and no index is needed.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path), str(REPO)],
        check=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("mailproc_desk-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (metadata_name,) = (name for name in names if name.endswith(".dist-info/METADATA"))
        metadata = HeaderParser().parsestr(archive.read(metadata_name).decode())

    for folder in ("templates", "rules", "migrations"):
        shipped = {name for name in names if name.startswith(f"mailproc/_shipped/{folder}/")}
        expected = {
            f"mailproc/_shipped/{path.relative_to(REPO).as_posix()}"
            for path in (REPO / folder).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        }
        assert expected and shipped >= expected, folder
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert metadata["Name"] == "mailproc-desk"
    assert metadata["Version"] == mailproc.__version__
    assert {"postgresql", "test", "dev"} <= set(metadata.get_all("Provides-Extra"))
    psycopg = [
        requirement
        for requirement in map(Requirement, metadata.get_all("Requires-Dist"))
        if requirement.name == "psycopg"
    ]

    def installed_with(extra: str) -> bool:
        return any(r.marker is None or r.marker.evaluate({"extra": extra}) for r in psycopg)

    assert installed_with("postgresql") and installed_with("test")
    assert not installed_with("")
