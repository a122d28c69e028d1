"""Where recordings (and later uploads) live: a local folder by default.

Keys are relative, slash-separated names chosen by the platform (never by users); the store maps
them to files under its root and refuses anything that would escape it.
"""

from __future__ import annotations

from pathlib import Path


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, key: str) -> Path:
        target = (self.root / key).resolve()
        if not target.is_relative_to(self.root):
            raise ValueError(f"storage key {key!r} escapes the storage root")
        return target

    def writable_path(self, key: str) -> Path:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()
