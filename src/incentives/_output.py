"""Result folders that are whole or absent: written beside the target, described by a manifest, renamed at the end.

A batch writes into ``.<name>.partial-<pid>-<random>`` in the target's parent folder and, only once
every file is closed, writes ``manifest.json`` (``complete: true``, the inputs' hashes, the row
counts, the rulebook hash, start and end) and renames the folder into place. A run that is killed
at any point leaves the previous results as they were, or no folder at all: never a folder whose
manifest describes files that are not all there. Any writer of results (the row path, the columnar
path) uses ``OutputFolder`` and ``input_entry`` so that every result folder says the same things.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any

from incentives.errors import IncentivesError, Location

MANIFEST = "manifest.json"
MARKERS = (MANIFEST, "summary.json")     # a folder holding one of these is a previous result: it may be replaced
SYSTEM = ("/proc", "/sys", "/dev")


def file_digest(path: Path) -> str:
    """``sha256:…`` of a file's bytes, read in blocks into one small buffer (so hashing a large input
    does not raise the run's peak memory)."""
    digest = hashlib.sha256()
    buffer = bytearray(1 << 16)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            digest.update(view[:n])
    return "sha256:" + digest.hexdigest()


def input_entry(role: str, path: Path) -> dict[str, Any]:
    """How the manifest names an input file: its role, path, size and hash."""
    return {"role": role, "path": str(path), "bytes": path.stat().st_size, "sha256": file_digest(path)}


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class OutputFolder:
    """A temporary folder beside ``target`` that becomes ``target`` only when ``publish`` is called.

    >>> with OutputFolder(Path("out/results")) as folder:        # doctest: +SKIP
    ...     (folder.path / "awards.csv").write_text("…")
    ...     folder.publish({"rows": {…}})
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        self.started = now()
        check_target(target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _sweep(target)
            self.path = target.parent / f".{target.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
            self.path.mkdir()
        except OSError as e:
            raise IncentivesError(f"cannot write results here: {e.strerror or e}", location=Location(str(target))) from e
        self.published = False

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self.published:
            shutil.rmtree(self.path, ignore_errors=True)

    def publish(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Write ``manifest.json`` (complete, with every file's rows and hash) last, then rename into place."""
        files = {p.name: {"bytes": p.stat().st_size, "sha256": file_digest(p)}
                 for p in sorted(self.path.iterdir()) if p.is_file()}
        manifest = {"complete": True, "started": self.started, "ended": now(), **manifest}
        for name, entry in manifest.pop("rows_in_files", {}).items():
            files.setdefault(name, {})["rows"] = entry
        manifest["files"] = files
        text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
        with open(self.path / MANIFEST, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        try:
            old = None
            if self.target.exists():
                old = self.target.parent / f".{self.target.name}.replaced-{os.getpid()}-{secrets.token_hex(4)}"
                self.target.rename(old)
            self.path.rename(self.target)
        except OSError as e:
            raise IncentivesError(f"cannot move the results into place: {e.strerror or e}",
                                  location=Location(str(self.target))) from e
        self.published = True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return manifest


def check_target(target: Path) -> None:
    """Refuse a target that is a file, lies under /proc, /sys or /dev, or is a folder of other files."""
    where = Location(str(target))
    resolved = str(target.resolve())
    if any(resolved == s or resolved.startswith(s + "/") for s in SYSTEM):
        raise IncentivesError(f"results cannot go under /{resolved.split('/')[1]}: choose an ordinary folder",
                              location=where)
    if target.exists() and not target.is_dir():
        raise IncentivesError("is a file, not a folder: results are a folder of files", location=where)
    if target.is_dir() and any(target.iterdir()) and not any((target / m).is_file() for m in MARKERS):
        raise IncentivesError("the folder holds other files and no earlier results: choose a new or empty "
                              "folder (it is replaced as a whole)", location=where)


def _sweep(target: Path) -> None:
    """Remove partial folders that killed runs for this target left behind (their process is gone)."""
    for stale in target.parent.glob(f".{target.name}.partial-*"):
        pid = stale.name.rsplit("-", 2)[-2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest if it says the folder is complete, else ``None``."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("complete") is True else None
