"""The wheel ships what the code needs, checked without building one (issue 24).

``make wheel-check`` (.ci/wheel-check) builds and installs the real wheel;
these tests catch the same mistakes in a second: a package or data file that
pyproject.toml's setuptools config leaves out, a file located through
``__file__`` instead of ``importlib.resources`` / ``model.paths``, a module
that works only because the editable install's finder imported something,
and build caches or docs written into an installed tree.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import sysconfig
import tomllib
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from model import paths

ROOT = Path(__file__).resolve().parents[1]
TOPS = ("model", "hw", "verif", "sim", "scripts")
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _tracked_files() -> list[Path]:
    """Files of the top-level packages that git knows (tracked or new, not ignored)."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                          *TOPS], cwd=ROOT, capture_output=True, check=True).stdout
    files = [Path(p) for p in out.decode().split("\0") if p]
    assert files, "git lists no files under the packages"
    return [f for f in files if (ROOT / f).is_file()]


def shipped_packages(config: dict) -> set[str]:
    """The packages the setuptools config puts in the wheel.

    An explicit ``packages`` list is taken as it is; ``packages.find`` is
    evaluated as setuptools' PackageFinder does with ``namespaces = false``:
    directories holding an ``__init__.py``, reached through packages only,
    whose dotted name matches an ``include`` pattern and no ``exclude`` one.
    """
    if isinstance(config.get("packages"), list):
        return set(config["packages"])
    find = config["packages"]["find"]
    assert find.get("namespaces") is False, "packages.find must say namespaces = false"
    include, exclude = find.get("include", ["*"]), find.get("exclude", [])
    found, todo = set(), [(ROOT / d, d) for d in sorted(os.listdir(ROOT))]
    while todo:
        path, name = todo.pop()
        if not path.is_dir() or "." in path.name or not (path / "__init__.py").is_file():
            continue
        if any(fnmatchcase(name, p) for p in include) and \
                not any(fnmatchcase(name, p) for p in exclude):
            found.add(name)
        todo += [(path / d, f"{name}.{d}") for d in sorted(os.listdir(path))]
    return found


def _owner(rel: Path, packages: set[str]) -> str | None:
    """The innermost shipped package whose directory holds ``rel``."""
    for parent in rel.parents:
        if parent.parts and ".".join(parent.parts) in packages:
            return ".".join(parent.parts)
    return None


def test_every_package_directory_ships():
    """Every directory of Python code under the top-level packages is a
    package of the wheel (the old hand list left out verif.kit, verif.benches,
    verif.formal and verif.toolchain: this test fails on it)."""
    packages = shipped_packages(SETUPTOOLS)
    code_dirs = {f.parent for f in _tracked_files() if f.suffix == ".py"}
    missing = sorted(".".join(d.parts) for d in code_dirs if ".".join(d.parts) not in packages)
    assert not missing, f"Python code outside the wheel's packages: {missing}"
    assert {"verif.toolchain", "verif.kit", "verif.benches", "verif.formal"} <= packages
    assert "tests" not in packages


def test_every_data_file_ships_as_package_data():
    """Every non-Python file under the packages is matched by package-data
    (glob patterns relative to the owning package's directory, as setuptools
    reads them); the old pyproject had none and fails here."""
    packages = shipped_packages(SETUPTOOLS)
    patterns = SETUPTOOLS.get("package-data", {})
    data = [f for f in _tracked_files() if f.suffix != ".py"]
    assert data, "no data files found: the search is broken"
    unshipped = []
    for f in data:
        owner = _owner(f, packages)
        pkg_dir = ROOT / Path(*owner.split(".")) if owner else None
        matched = owner is not None and any(
            (ROOT / f) in set(pkg_dir.glob(p)) for p in patterns.get(owner, []))
        if not matched:
            unshipped.append(str(f))
    assert not unshipped, f"data files the wheel would leave out: {unshipped}"


def test_no_module_locates_files_through_dunder_file():
    """Data is read through importlib.resources and caches placed by
    model.paths, the one module that locates the source tree (a
    ``Path(__file__).parent / "x"`` elsewhere is what breaks in a wheel)."""
    bare = re.compile(r"(?<![\w.])__file__\b")
    offenders = [str(f) for f in _tracked_files() if f.suffix == ".py"
                 and f != Path("model/paths.py") and bare.search((ROOT / f).read_text())]
    assert not offenders, f"modules using __file__: {offenders}"


def test_cli_help_without_the_editable_finder():
    """``radix4 --help`` with site-packages on the path but no .pth files run
    (python -I -S), as in an installed wheel: the editable install's finder
    had imported importlib.util, which hid scripts/cli.py's missing import."""
    site = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    code = ("import sys; sys.path[:0] = [sys.argv[1]]; sys.path += sys.argv[2:]; "
            "from scripts.cli import main; sys.argv = ['radix4', '--help']; sys.exit(main())")
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(ROOT), *sorted(site)],
                          capture_output=True, text=True, timeout=120, cwd="/")
    assert proc.returncode == 0, proc.stderr[-2000:]
    from scripts.cli import COMMANDS
    assert all(name in proc.stdout for name, _ in COMMANDS)


# ------------------------------------------------------------ model.paths
def _installed_copy(tmp_path) -> object:
    """model/paths.py loaded from a site-packages-like tree (no pyproject.toml)."""
    site = tmp_path / "site-packages" / "model"
    site.mkdir(parents=True)
    (site / "paths.py").write_text((ROOT / "model" / "paths.py").read_text())
    spec = importlib.util.spec_from_file_location("installed_model_paths", site / "paths.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_installed_caches_go_to_the_user_cache(tmp_path, monkeypatch):
    installed = _installed_copy(tmp_path)
    assert installed.checkout_root() is None
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RADIX4_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert installed.build_dir("sim") == tmp_path / "home" / ".cache" / "radix4" / "sim"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")    # XDG: relative paths are invalid
    assert installed.build_root() == tmp_path / "home" / ".cache" / "radix4"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert installed.build_root() == tmp_path / "xdg" / "radix4"
    monkeypatch.setenv("RADIX4_CACHE", str(tmp_path / "mine"))
    assert installed.build_dir("cxx") == tmp_path / "mine" / "cxx"
    with pytest.raises(installed.CheckoutRequired, match="make bench needs a radix4 source "
                       "checkout; this radix4 is installed in .*site-packages"):
        installed.require_checkout("make bench")


def test_a_checkout_keeps_its_build_directory(monkeypatch, tmp_path):
    """In the checkout nothing moves: build/ even with RADIX4_CACHE set (the
    mutation gate's copies each keep their own); RADIX4_SIM_BUILD still wins."""
    from verif import toolchain as tc
    monkeypatch.setenv("RADIX4_CACHE", str(tmp_path / "elsewhere"))
    monkeypatch.delenv("RADIX4_SIM_BUILD", raising=False)
    assert paths.checkout_root() == ROOT and paths.require_checkout("x") == ROOT
    assert tc.cache_root() == ROOT / "build" / "sim"
    monkeypatch.setenv("RADIX4_SIM_BUILD", str(tmp_path / "sim"))
    assert tc.cache_root() == tmp_path / "sim"


@pytest.fixture
def installed(monkeypatch, tmp_path):
    """This process as if radix4 were installed: no checkout, user cache in tmp_path."""
    monkeypatch.setattr(paths, "checkout_root", lambda: None)
    monkeypatch.setenv("RADIX4_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_installed_build_caches_leave_the_source_tree(installed):
    from sim import reference
    from verif import toolchain as tc
    assert tc.cache_root() == installed / "cache" / "sim"
    assert reference._cache_root() == installed / "cache" / "cxx"


@pytest.mark.parametrize("argv", [["regress", "--seeds", "1"],
                                  ["synth", "--from-json", "r.json", "--update-docs"]])
def test_installed_commands_that_write_the_repository_refuse(installed, monkeypatch, capsys,
                                                             argv):
    from scripts.cli import main as cli_main
    monkeypatch.chdir(installed)
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs a radix4 source checkout" in err[0], err
    assert not (installed / "docs").exists() and not (installed / "build").exists()


def _doc_writer(module, tmp_path, monkeypatch):
    """``(main, argv)`` of a command that rewrites the repository, pointed at
    tmp_path and at the quickest work, so that a missing refusal fails fast
    and writes nothing into the checkout."""
    mod = importlib.import_module(module)
    if module == "scripts.bench":
        monkeypatch.setattr(mod, "ROOT", tmp_path)
        return mod.main, ["no-such-section"]
    if module == "scripts.results":
        monkeypatch.setattr(mod, "DOCS", tmp_path / "docs")
        monkeypatch.setattr(mod, "RAW", tmp_path / "raw.json")
        return mod.main, ["--render-only"]
    if module == "scripts.results_onchip":
        monkeypatch.setattr(mod, "DOC", tmp_path / "docs" / "results.md")
        monkeypatch.setattr(mod, "RAW", tmp_path / "raw.json")
        return mod.main, ["--render-only"]
    monkeypatch.setattr(mod, "ROOT", tmp_path)                    # verif.mutate
    return mod.main, ["--no-baseline", mod.CATALOGUE[0].name]


@pytest.mark.parametrize("module", ["scripts.bench", "scripts.results", "scripts.results_onchip",
                                    "verif.mutate"])
def test_installed_doc_writers_refuse(installed, monkeypatch, capsys, module):
    main, argv = _doc_writer(module, installed, monkeypatch)
    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs a radix4 source checkout" in err[0], err
