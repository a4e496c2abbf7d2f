"""Issue 25: the generated tables of docs/formats.md (scripts/formats_report.py)."""

from __future__ import annotations

import json

import pytest

from scripts import formats_report as fr


def _run(task, recipe, seed, final):
    metric = "accuracy" if task.startswith("digits") else "bits_per_char"
    return {"task": task, "recipe": recipe, "seed": seed, "final": final, "metric": metric}


def test_report_gaps_pending_and_markers(tmp_path, monkeypatch):
    doc, png = tmp_path / "formats.md", tmp_path / "gap.png"
    doc.write_text(f"head\n{fr.BEGIN}\nold\n{fr.END}\ntail\n")
    monkeypatch.setattr(fr, "DOC", doc)
    monkeypatch.setattr(fr, "PLOT", png)
    monkeypatch.setattr(fr, "PARETO", tmp_path / "pareto.png")
    raw1, raw2 = tmp_path / "a.json", tmp_path / "b.json"
    raw1.write_text(json.dumps({"runs": [
        _run("charlm", "fp32", 0, 2.0), _run("charlm", "fp32", 1, 2.2),
        _run("charlm", "nvfp4", 0, 2.1), _run("charlm", "nvfp4", 1, 9.9),
        _run("digits-mlp", "fp32", 0, 0.9), _run("digits-mlp", "mxfp4", 0, 0.88)]}))
    # A later file wins for the same task, recipe and seed.
    raw2.write_text(json.dumps({"runs": [_run("charlm", "nvfp4", 1, 2.31)]}))
    fr.write_report([raw1, raw2])
    text = doc.read_text()
    assert text.startswith("head\n") and text.endswith(f"{fr.END}\ntail\n") and "old" not in text
    # Per-seed relative gaps +5 % and +5 %: mean 5.00, spread 0.
    assert "| `nvfp4` | NVFP4 | 8-bit | 2.205 ± 0.148 | +5.00 ± 0.00 | 2 |" in text
    assert "| `mxfp4` | MXFP4 | 4-bit | 88.00 | -2.00 | 1 |" in text
    assert "`charlm` `nvfp4` seeds 0, 1" in text
    assert "`charlm` `nvfp4` seeds 2" in text.split("Pending")[1]
    assert "`digits-cnn`: every recipe" in text
    # charlm-attn does not run the on-chip recipes: never listed as pending.
    assert "`charlm-attn` `4bit-onchip`" not in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_refuses_a_doc_without_markers(tmp_path, monkeypatch):
    doc = tmp_path / "formats.md"
    doc.write_text("no markers\n")
    monkeypatch.setattr(fr, "DOC", doc)
    raw = tmp_path / "a.json"
    raw.write_text(json.dumps({"runs": []}))
    with pytest.raises(ValueError, match="markers"):
        fr.write_report([raw])
    assert doc.read_text() == "no markers\n"
