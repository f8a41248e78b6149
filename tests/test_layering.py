"""The layers the design promises, read from the source's imports and calls: probes alone touch the OS, checks
and fixes are pure planners over Facts, the runner and the doctor share neutral core modules, not each other's."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The source folders, and the package each installs as.
PACKAGES = {
    "llamadoctor": "llamadoctor",
    "checks": "llamadoctor.checks",
    "fixes": "llamadoctor.fixes",
    "runner": "llamadoctor.runner",
}
# Calls that read or change the file system: a planner's facts come from the probes.
FILE_METHODS = {
    "open",
    "read_bytes",
    "read_text",
    "write_bytes",
    "write_text",
    "stat",
    "lstat",
    "exists",
    "is_file",
    "is_dir",
    "iterdir",
    "glob",
    "rglob",
    "unlink",
    "mkdir",
    "rename",
}
FILE_MODULES = ("os", "shutil", "pathlib", "io", "llamadoctor.reading", "llamadoctor.probes", "subprocess")


def sources(folder: str, root: Path = ROOT) -> list[Path]:
    return sorted((root / folder).rglob("*.py"))


def imports(path: Path) -> Iterator[str]:
    """Every module `path` imports, at the top or inside a function; `from a import b` yields a and a.b."""
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def imported_from(folder: str, forbidden: tuple[str, ...], root: Path = ROOT) -> list[str]:
    """`file: module` for each import under `folder` of a module in (or under) one of `forbidden`."""
    return sorted(
        {
            f"{path.relative_to(root)}: {name}"
            for path in sources(folder, root)
            for name in imports(path)
            if any(name == f or name.startswith(f + ".") for f in forbidden)
        }
    )


def file_calls(path: Path) -> Iterator[str]:
    """Calls that touch the file system: open(...), and path/file methods such as .read_text()."""
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "open":
            yield f"open() at line {node.lineno}"
        elif isinstance(func, ast.Attribute) and func.attr in FILE_METHODS:
            yield f".{func.attr}() at line {node.lineno}"


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("runner", ("llamadoctor.probes",)),
        ("fixes", ("llamadoctor.checks", "llamadoctor.probes", "llamadoctor.runner")),
        ("checks", ("llamadoctor.probes", "llamadoctor.runner", "llamadoctor.fixes")),
    ],
)
def test_layers_import_only_what_is_below_them(folder: str, forbidden: tuple[str, ...]) -> None:
    assert imported_from(folder, forbidden) == []


@pytest.mark.parametrize("folder", ["checks", "fixes"])
def test_checks_and_fixes_never_touch_the_disk(folder: str) -> None:
    """A check judges Facts and a fix plans Actions; reading is the probes' job, writing apply's."""
    assert imported_from(folder, FILE_MODULES) == []
    assert [f"{p.relative_to(ROOT)}: {c}" for p in sources(folder) for c in file_calls(p)] == []


def test_the_format_parsers_are_pure() -> None:
    """Shared by the doctor and the runner because they parse bytes and read nothing themselves."""
    path = ROOT / "llamadoctor" / "formats.py"
    assert [
        n
        for n in imports(path)
        if n.split(".")[0] in ("os", "pathlib", "shutil", "zipfile")
        or n.startswith(("llamadoctor.reading", "llamadoctor.probes"))
    ] == []
    assert list(file_calls(path)) == []


@pytest.mark.parametrize("folder", ["llamadoctor", "checks", "fixes"])
def test_the_doctor_never_imports_torch(folder: str) -> None:
    """Torch is the runner's; the doctor's examples and builders are torch-free (tests/builders write .pth)."""
    assert imported_from(folder, ("torch",)) == []


def test_the_rules_see_an_offender(tmp_path: Path) -> None:
    """The walkers find imports inside functions and method calls on paths, the shapes a regression takes."""
    (tmp_path / "fixes").mkdir()
    (tmp_path / "fixes" / "bad.py").write_text(
        "def plan(facts):\n    from llamadoctor.checks.shards import x\n    return facts.path.read_text()\n"
    )
    assert imported_from("fixes", ("llamadoctor.checks",), tmp_path) == [
        "fixes/bad.py: llamadoctor.checks.shards",
        "fixes/bad.py: llamadoctor.checks.shards.x",
    ]
    assert list(file_calls(tmp_path / "fixes" / "bad.py")) == [".read_text() at line 3"]


def test_every_source_folder_is_walked() -> None:
    for folder in PACKAGES:
        assert sources(folder), folder
