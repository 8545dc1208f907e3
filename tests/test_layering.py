"""The package layering docs/architecture.md promises: formats import no torch, data and LightningModules are
independent, the atomic temp-then-rename idiom exists once."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HAR = ROOT / "har"


def _modules(package: str) -> list[str]:
    folder = ROOT / package.replace(".", "/")
    return sorted(f"{package}.{p.stem}" for p in folder.glob("*.py") if p.stem != "__init__")


def _loaded_after_import(modules: list[str]) -> set[str]:
    """sys.modules of a fresh interpreter after importing ``modules``."""
    code = "import importlib, json, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
    code += "print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_format_readers_import_no_torch():
    loaded = _loaded_after_import(_modules("har.data.formats"))
    assert "torch" not in loaded and "lightning" not in loaded


def test_lightning_modules_never_import_the_data_layer():
    loaded = _loaded_after_import(_modules("har.lit"))
    assert not {m for m in loaded if m.startswith("har.data")}


def test_the_data_layer_never_imports_lightning_modules():
    subpackages = ("formats", "io", "transforms", "datasets", "datamodules")
    data = [m for sub in subpackages for m in _modules(f"har.data.{sub}")]
    loaded = _loaded_after_import([*data, "har.data.sampling"])
    assert not {m for m in loaded if m.startswith(("har.lit", "har.run", "har.models"))}


@pytest.mark.parametrize("idiom", [r"os\.replace\(", r"\.replace\(tmp", r"\.tmp-\{os\.getpid"])
def test_temporary_then_rename_is_written_once(idiom):
    """Every atomic write goes through har.utils.io.atomic_path; nothing else renames a temporary into place."""
    hits = [str(p.relative_to(ROOT)) for p in HAR.rglob("*.py") if re.search(idiom, p.read_text())]
    assert hits in ([], ["har/utils/io.py"]), hits
