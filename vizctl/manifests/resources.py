"""Files shipped inside the package, read without importing anything heavy."""

from __future__ import annotations

from pathlib import Path

SCHEMA_FILE = "manifest.schema.json"


def manifest_schema_text() -> str:
    """The manifest JSON Schema's text, as shipped with vizctl."""
    try:
        from importlib.resources import files

        return files("vizctl.schemas").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        # An editable install does not map schemas/ to vizctl.schemas: read it from the repo.
        return (Path(__file__).resolve().parents[2] / "schemas" / SCHEMA_FILE).read_text(encoding="utf-8")
