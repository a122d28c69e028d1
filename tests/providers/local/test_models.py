"""Model files come from installed packages; the GGUF is assembled once, checked, reused, and repaired."""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bvrai.providers.local import models
from bvrai.providers.local.models import ModelIntegrityError, ModelPackageMissing, assemble_once


def test_whisper_tiny_en_is_found_inside_its_package():
    folder = models.whisper_model_dir("tiny.en")
    assert "site-packages" in str(folder) and folder.name == "model"
    assert {"model.bin", "config.json", "tokenizer.json"} <= {p.name for p in folder.iterdir()}


def test_hibari_heart_is_found_inside_the_wheel():
    path = models.hibari_voice_file("heart")
    assert path.is_file() and path.suffix == ".onnx" and "hibari" in str(path)


def test_a_voice_hibari_would_download_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HIBARI_HOME", str(tmp_path))  # an empty cache: nothing copied by hand
    with pytest.raises(ModelPackageMissing, match="downloaded at run time") as caught:
        models.hibari_voice_file("emma")
    assert "bf_emma" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_voice_copied_into_hibaris_cache_by_hand_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("HIBARI_HOME", str(tmp_path))
    (tmp_path / "bf_emma.int8.onnx").write_bytes(b"onnx")
    assert models.hibari_voice_file("emma") == tmp_path / "bf_emma.int8.onnx"


def test_a_missing_package_names_the_pip_command():
    with pytest.raises(ModelPackageMissing) as caught:
        models.package_dir("bvrai_no_such_model_pkg", provider="llm:local")
    message = str(caught.value)
    assert message.startswith("llm:local:")
    assert "'bvrai-no-such-model-pkg' is not installed" in message
    assert 'pip install "bvrai[local]"' in message
    assert caught.value.retryable  # the session may fall back to another provider


def test_the_six_gguf_parts_are_installed_in_order():
    parts = models.gguf_part_files()
    assert [p.name for p in parts] == [f"part0{i}.bin" for i in range(1, 7)]
    assert sum(p.stat().st_size for p in parts) == models.GGUF_SIZE


# --- assembly, on small parts ------------------------------------------------------------------------------------


def _parts(tmp_path: Path) -> tuple[list[Path], str, int]:
    chunks = [os.urandom(100_000), os.urandom(70_001), b"tail"]
    paths = []
    for i, chunk in enumerate(chunks):
        path = tmp_path / f"part{i}.bin"
        path.write_bytes(chunk)
        paths.append(path)
    whole = b"".join(chunks)
    return paths, hashlib.sha256(whole).hexdigest(), len(whole)


def test_parts_are_assembled_once_then_reused_without_rehashing(tmp_path):
    parts, sha, size = _parts(tmp_path)
    dest = tmp_path / "cache" / "model.gguf"

    first = assemble_once(parts, dest, sha256=sha, size=size, provider="llm:local")
    assert first.action == "assembled"
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == sha
    stat = dest.stat()

    second = assemble_once(parts, dest, sha256=sha, size=size, provider="llm:local")
    assert second.action == "reused"
    assert dest.stat().st_ino == stat.st_ino and dest.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(p.name for p in dest.parent.iterdir()) == [
        "model.gguf",
        "model.gguf.lock",
        "model.gguf.verified.json",
    ]


def test_a_cache_file_changed_since_it_was_verified_is_detected_and_rebuilt(tmp_path):
    parts, sha, size = _parts(tmp_path)
    dest = tmp_path / "model.gguf"
    assemble_once(parts, dest, sha256=sha, size=size, provider="llm:local")

    with dest.open("r+b") as f:  # same size, different bytes, a new mtime
        f.seek(1234)
        f.write(b"\x00\xff\x00\xff")
    assert assemble_once(parts, dest, sha256=sha, size=size, provider="llm:local").action == "assembled"
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == sha

    dest.write_bytes(b"truncated")
    assert assemble_once(parts, dest, sha256=sha, size=size, provider="llm:local").action == "assembled"
    assert dest.stat().st_size == size


def test_a_good_file_without_its_marker_is_verified_not_rebuilt(tmp_path):
    parts, sha, size = _parts(tmp_path)
    dest = tmp_path / "model.gguf"
    assemble_once(parts, dest, sha256=sha, size=size, provider="llm:local")
    (tmp_path / "model.gguf.verified.json").unlink()
    assert assemble_once(parts, dest, sha256=sha, size=size, provider="llm:local").action == "verified"
    assert assemble_once(parts, dest, sha256=sha, size=size, provider="llm:local").action == "reused"


def test_parts_that_do_not_give_the_pinned_hash_are_a_clear_error_and_leave_nothing(tmp_path):
    parts, _sha, size = _parts(tmp_path)
    dest = tmp_path / "cache" / "model.gguf"
    with pytest.raises(ModelIntegrityError) as caught:
        assemble_once(parts, dest, sha256="0" * 64, size=size, provider="llm:local")
    message = str(caught.value)
    assert "model.gguf" in message and str(parts[0]) in message and "0" * 64 in message
    assert not dest.exists()
    assert not [p for p in dest.parent.iterdir() if p.suffix == ".part"]


def test_processes_starting_together_assemble_once(tmp_path):
    parts, sha, size = _parts(tmp_path)
    dest = tmp_path / "model.gguf"
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda _: assemble_once(parts, dest, sha256=sha, size=size, provider="llm:local"), range(4))
        )
    assert sorted(r.action for r in results) == ["assembled", "reused", "reused", "reused"]


# --- the real GGUF -------------------------------------------------------------------------------------------------


def test_the_real_gguf_is_assembled_once_matches_the_pinned_hash_and_is_repaired(tmp_path):
    first = models.ensure_gguf(tmp_path)
    assert first.action == "assembled"  # hashed while written, against GGUF_SHA256
    assert first.path.stat().st_size == models.GGUF_SIZE
    assert first.path.read_bytes()[:4] == b"GGUF"

    started = time.monotonic()
    again = models.ensure_gguf(tmp_path)
    assert again.action == "reused" and again.path == first.path
    assert time.monotonic() - started < 0.1  # no 490 MB rehash on a normal start

    with first.path.open("r+b") as f:
        f.seek(200_000_000)
        f.write(b"corrupt")
    repaired = models.ensure_gguf(tmp_path)
    assert repaired.action == "assembled"
    models.verify_file(repaired.path, sha256=models.GGUF_SHA256)
