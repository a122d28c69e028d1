"""The data folder: the SQLite database, generated secrets and the demo login live here."""

from __future__ import annotations

from pathlib import Path

GITIGNORE = "# Made by bvrai: this folder holds secrets and the database, never commit it.\n*\n"


def ensure_data_dir(path: Path) -> None:
    # 0700: secrets.json is 0600 already, but the database file is created with the umask.
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    # The default folder sits inside the checkout (`.bvrai`); a `git add .` must not pick it up.
    marker = path / ".gitignore"
    if not marker.exists():
        marker.write_text(GITIGNORE)
