"""Notebooks run top to bottom on a hub with data (their code cells, in one namespace)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analytics.ingest import ingest_file
from tests.conftest import NOW

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_code_runs(notebook: Path, acme, write_file, monkeypatch) -> None:
    ingest_file(acme, "acme", write_file("a.csv", "machine_id,sensor,ts,value\nCNC-01,spindle_temp,2026-02-01 10:00:00,30\nCNC-01,spindle_temp,2026-02-01 11:00:00,999\n"), now=NOW)
    monkeypatch.setenv("FACTORYHUB_DATA_DIR", str(acme.settings.data_dir))
    from analytics.config import get_settings

    get_settings.cache_clear()
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    namespace: dict[str, object] = {}
    results = []
    for cell in cells:
        if cell["cell_type"] == "code":
            code = "".join(cell["source"])
            *body, last = code.rstrip().split("\n")
            exec(compile("\n".join(body), str(notebook), "exec"), namespace)  # noqa: S102
            try:
                results.append(eval(compile(last, str(notebook), "eval"), namespace))  # noqa: S307
            except SyntaxError:
                exec(compile(last, str(notebook), "exec"), namespace)  # noqa: S102
    get_settings.cache_clear()
    assert results[0] == ["acme"]
    assert results[1].height == 1 and results[1]["n"].to_list() == [1]
    assert results[-2]["reason"].to_list() == ["outside valid range [-20.0, 200.0]"]
