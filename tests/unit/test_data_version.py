"""The data version a training run is tagged with: dvc.lock's md5 of the raw directory."""

from __future__ import annotations

from pathlib import Path

from credit_scoring.models.train import _data_version

LOCK = """schema: '2.0'
stages:
  generate:
    cmd: python pipelines/generate.py
    outs:
    - path: data/oracle.csv
      hash: md5
      md5: 3d8095724669d034eeecd344e567bf05
    - path: data/raw
      hash: md5
      md5: 1f04bc254daf30e7d9eea8e6427c545b.dir
  ingest:
    cmd: python pipelines/ingest.py
    outs:
    - path: data/ingested
      hash: md5
      md5: 0123456789abcdef0123456789abcdef.dir
"""


def test_the_raw_directory_is_found_however_paths_raw_is_spelt(tmp_path: Path, monkeypatch) -> None:
    lock = tmp_path / "dvc.lock"
    lock.write_text(LOCK)
    monkeypatch.chdir(tmp_path)
    expected = "1f04bc254daf30e7d9eea8e6427c545b.dir"
    for raw in ("data/raw", "data/raw/", "./data/../data/raw", str(tmp_path / "data" / "raw")):
        assert _data_version(Path("dvc.lock"), raw) == expected, raw
    assert _data_version(lock, str(tmp_path / "data" / "ingested")).startswith("0123")


def test_no_lock_or_no_such_output_is_unknown(tmp_path: Path, caplog) -> None:
    assert _data_version(tmp_path / "dvc.lock", "data/raw") == "unknown"
    lock = tmp_path / "dvc.lock"
    lock.write_text(LOCK)
    assert _data_version(lock, str(tmp_path / "elsewhere")) == "unknown"
    assert "records no output" in caplog.text
