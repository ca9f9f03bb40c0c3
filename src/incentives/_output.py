"""Result folders that are whole or absent: written beside the target, described by a manifest, renamed at the end.

A batch writes into ``.<name>.partial-<pid>-<random>`` in the target's parent folder and, only once
every file is closed, writes ``manifest.json`` (``complete: true``, the inputs' hashes, the row
counts, the rulebook hash, start and end) and renames the folder into place. A run that is killed
at any point leaves the previous results as they were, or no folder at all: never a folder whose
manifest describes files that are not all there. Any writer of results (the row path, the columnar
path) uses ``OutputFolder`` and ``input_entry`` so that every result folder says the same things.

While it runs, a batch whose results can be appended to records in the partial folder how far it
got (``Checkpoints``: ``checkpoint.json``, the completed chunks, the counts so far, and each partial
file's length and hash). ``OutputFolder(target, resume=True)`` takes over the partial folder a killed
run left, ``Checkpoints.resume`` refuses it when the inputs, the rules or the options changed or the
files no longer match, and cuts each file back to its checkpointed length: the run goes on from the
next chunk and ends with the files an uninterrupted run writes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
import signal
import tempfile
import threading
import time
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Iterator

from incentives.errors import IncentivesError, Location, ResumeError

MANIFEST = "manifest.json"
CHECKPOINT = "checkpoint.json"
MARKERS = (MANIFEST, "summary.json")     # a folder holding one of these is a previous result: it may be replaced
SYSTEM = ("/proc", "/sys", "/dev")


# Bytes hashed per read: a hashing thread takes the interpreter's lock back after each read and each
# update, which the batch's threads then wait for; at 64 KiB, 2,400 times on a 155 MB register.
HASH_READ = 1 << 20
EARLY_READ = 8 << 20   # bytes a read before the engine is imported: that thread takes the lock back seldom


def file_identity(path: Path) -> tuple[int, int, int, int]:
    """A file as a reader that comes later knows it for the same: its device, inode, size and modification."""
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


@dataclass
class _Early:
    identity: tuple[int, int, int, int]
    done: threading.Event = field(default_factory=threading.Event)
    digest: str | None = None   # None: the file could not be read, or changed while it was


_EARLY: dict[str, _Early] = {}


def digest_early(paths: list[Path]) -> None:
    """Hash ``paths`` in a thread of its own, begun before a batch imports its engine: a few tenths of a
    second in which one core has nothing else to do, and SHA-256 (a tenth of a second on a 155 MB register)
    frees the interpreter while it works. ``file_digest`` takes such a digest for the same file, unchanged;
    a path that is not a file, or not read by the batch after all, costs its reading, never a result."""
    found: list[tuple[Path, _Early]] = []
    for path in paths:
        try:
            if path.is_file():
                early = _EARLY[str(path.resolve())] = _Early(file_identity(path))
                found.append((path, early))
        except OSError:
            continue
    if found:
        threading.Thread(target=_hash_early, args=(found,), name="incentives-digest", daemon=True).start()


def _hash_early(found: list[tuple[Path, _Early]]) -> None:
    for path, early in found:
        try:
            digest = _digest(path, None, EARLY_READ)
            if file_identity(path) == early.identity:
                early.digest = digest
        except OSError:
            pass
        finally:
            early.done.set()


def file_digest(path: Path, prefix: tuple[int, Any] | None = None) -> str:
    """``sha256:…`` of a file's bytes, read in blocks into one buffer of ``HASH_READ`` (so hashing a large
    input does not raise the run's peak memory), or found by ``digest_early`` for the file as it is now.
    ``prefix``: the length and running hash of bytes already hashed (a checkpoint's), so that only the
    rest is read."""
    early = _EARLY.pop(str(path.resolve()), None) if prefix is None else None
    if early is not None:
        early.done.wait()
        if early.digest is not None and file_identity(path) == early.identity:
            return early.digest
    return _digest(path, prefix, HASH_READ)


def _digest(path: Path, prefix: tuple[int, Any] | None, size: int) -> str:
    digest = prefix[1].copy() if prefix is not None else hashlib.sha256()
    buffer = bytearray(size)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        if prefix is not None:
            f.seek(prefix[0])
        while n := f.readinto(buffer):
            digest.update(view[:n])
    return "sha256:" + digest.hexdigest()


def input_entry(role: str, path: Path, name: str | None = None) -> dict[str, Any]:
    """How the manifest names an input file: its role, path (or ``name``: ``<stdin>`` for the bytes read from
    standard input, which ``path`` holds a copy of), size and hash."""
    return {"role": role, "path": name or str(path), "bytes": path.stat().st_size, "sha256": file_digest(path)}


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class OutputFolder:
    """A temporary folder beside ``target`` that becomes ``target`` only when ``publish`` is called.

    >>> with OutputFolder(Path("out/results")) as folder:        # doctest: +SKIP
    ...     (folder.path / "awards.csv").write_text("…")
    ...     folder.publish({"rows": {…}})
    """

    def __init__(self, target: Path, resume: bool = False) -> None:
        self.target = target
        self.started = now()
        check_target(target)
        self.resumed = False   # True when the folder is a killed run's, taken over with its checkpoint
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            stale = _stale(target)
            kept = _with_checkpoint(stale) if resume else None
            for folder in stale:
                if folder != kept:
                    shutil.rmtree(folder, ignore_errors=True)
            self.path = target.parent / f".{target.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
            if kept is not None:   # renamed to this process, so that no other run sweeps it away
                kept.rename(self.path)
                self.resumed = True
            else:
                self.path.mkdir()
            _IN_USE.add(self.path)
        except OSError as e:
            raise IncentivesError(f"cannot write results here: {e.strerror or e}", location=Location(str(target))) from e
        self.published = False

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        _IN_USE.discard(self.path)
        if not self.published and not isinstance(error, ResumeError):  # a refused resume keeps it for a later try
            shutil.rmtree(self.path, ignore_errors=True)
        if isinstance(error, OSError) and (error.filename is None or self.path in Path(error.filename).parents):
            raise cannot_write(error, self.target, "the results") from error   # the disk full, a file too large

    def publish(self, manifest: dict[str, Any], hashed: dict[str, tuple[int, Any]] | None = None) -> dict[str, Any]:
        """Write ``manifest.json`` (complete, with every file's rows and hash) last, then rename into place.
        The checkpoint goes only after the rename: a run killed before it leaves a folder ``--resume`` takes over.
        ``hashed``: files whose first bytes are hashed already (``Checkpoints.hashed``): only the rest is read."""
        (self.path / (CHECKPOINT + ".tmp")).unlink(missing_ok=True)
        hashed = hashed or {}
        files = {p.name: {"bytes": p.stat().st_size, "sha256": file_digest(p, hashed.get(p.name))}
                 for p in sorted(self.path.iterdir()) if p.is_file() and p.name not in (CHECKPOINT, MANIFEST)}
        # complete where it is named: a run killed between this write and the rename leaves a partial folder
        # whose manifest names another folder, so it claims nothing
        manifest = {"complete": True, "folder": self.target.name, "started": self.started, "ended": now(), **manifest}
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
        (self.target / CHECKPOINT).unlink(missing_ok=True)   # a kill just before this leaves it: not in the manifest
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return manifest


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a service manager stopping the job), raised where the program stands so that a
    run unwinds as after Ctrl-C: no partial results left, no traceback."""


def _terminated(signum: int, frame: object) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Within: SIGTERM raises ``Terminated`` (in the main thread; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def writing(folder: Path, what: str) -> Iterator[None]:
    """Write ``what`` into ``folder``: an ``OSError`` on the way (the folder not writable, a file where it
    should be, the disk full) becomes one ``IncentivesError`` naming the file, or else the folder."""
    try:
        yield
    except OSError as e:
        raise cannot_write(e, Path(e.filename) if isinstance(e.filename, str) else folder, what) from e


def cannot_write(error: OSError, where: Path, what: str) -> IncentivesError:
    return IncentivesError(f"cannot write {what}: {error.strerror or error}", location=Location(str(where)))


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


_IN_USE: set[Path] = set()   # this process's partial folders (another run in this process may not take them)


def kept_state(target: Path) -> dict[str, Any] | None:
    """The state of the checkpoint ``OutputFolder(target, resume=True)`` would take over, if it can be read."""
    kept = _with_checkpoint(_stale(target)) if target.parent.is_dir() else None
    try:
        state = json.loads((kept / CHECKPOINT).read_text(encoding="utf-8"))["state"] if kept is not None else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state if isinstance(state, dict) else None


def _with_checkpoint(stale: list[Path]) -> Path | None:
    """The partial folder a resumed run takes over: the most recent with a checkpoint."""
    return next((p for p in stale if (p / CHECKPOINT).is_file()), None)


def _stale(target: Path) -> list[Path]:
    """Partial folders that killed runs for this target left behind (their process is gone), the most
    recently written first."""
    found = []
    for stale in target.parent.glob(f".{target.name}.partial-*"):
        pid = stale.name.rsplit("-", 2)[-2]
        if pid.isdigit() and (not _alive(int(pid)) or int(pid) == os.getpid() and stale not in _IN_USE):
            found.append(stale)
    return sorted(found, key=lambda p: _mtime(p / CHECKPOINT), reverse=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def scratch_folder(prefix: str) -> tempfile.TemporaryDirectory[str]:
    """A temporary folder named ``<prefix><pid>-…``, removed when closed. The folders of ``prefix`` that
    killed runs left (SIGKILL runs no cleanup: their process is gone) are removed first."""
    for old in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        pid = old.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return tempfile.TemporaryDirectory(prefix=f"{prefix}{os.getpid()}-")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs. A process killed but not yet reaped by its parent (a zombie, as
    a job runner leaves a killed batch until it waits for it) has stopped writing: its folder is stale."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True   # no /proc (not Linux): alive, as the signal said
    return state not in ("Z", "X")


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest if it says the folder is complete, else ``None``: ``complete: true``, and written
    for a folder of this name (``folder``), so that the partial folder of a run killed as it published is not."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("complete") is not True:
        return None
    return data if data.get("folder", folder.name) == folder.name else None


class Checkpoints:
    """``checkpoint.json`` in a partial folder: how far a run got, so that ``--resume`` goes on from there.

    ``run`` holds what the results depend on (the inputs' hashes, the rulebook hash, the options); a
    checkpoint is written, at most every ``every`` seconds, right after a chunk's rows were written and
    flushed: the chunks done, the run's ``state`` (counts and totals so far) and each file's length and
    SHA-256, hashed as it grows (each byte is read back once, in a thread of its own after each chunk's rows
    are written (``written``), by the ``hashing`` executor where one is given). It is replaced atomically,
    so it always describes a prefix of each file; bytes written after it are cut off when the run is resumed.
    """

    def __init__(self, folder: Path, run: dict[str, Any], files: list[str], every: float = 2.0,
                 inputs: Callable[[], list[dict[str, Any]]] | None = None, hashing: Executor | None = None) -> None:
        self.folder, self._run, self.files, self.every = folder, run, files, every
        self._inputs = inputs   # the inputs' entries, found while the run reads them (hashing takes a while)
        self.hashes = {name: hashlib.sha256() for name in files}
        self.lengths = dict.fromkeys(files, 0)
        self.last = time.monotonic()
        self.resumes: list[dict[str, Any]] = []   # where and when earlier runs were resumed
        self._hashing = hashing                   # hashes the rows written while the next chunks are assessed
        self._hashed: list[Future[None]] = []

    @property
    def path(self) -> Path:
        return self.folder / CHECKPOINT

    @property
    def run(self) -> dict[str, Any]:
        """What the results depend on, with the inputs' entries (waited for the first time they are needed)."""
        if self._inputs is not None:
            self._run, self._inputs = {"inputs": self._inputs(), **self._run}, None
        return self._run

    def resume(self) -> dict[str, Any]:
        """The state of the checkpoint a killed run left, after checking that it may be continued and cutting
        each file back to its checkpointed length. Raises ``ResumeError`` naming what changed."""
        where = Location(str(self.path))
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
            then, state, files = saved["run"], saved["state"], saved["files"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ResumeError(f"the checkpoint cannot be read ({e}): start a new run without --resume",
                              location=where) from e
        mine = {entry["role"]: entry for entry in self.run["inputs"]}
        for entry in then.get("inputs", []):
            now_entry = mine.get(entry.get("role"))
            if now_entry is None or (now_entry["path"], now_entry["sha256"]) != (entry.get("path"), entry.get("sha256")):
                shown = now_entry["path"] if now_entry else entry.get("path")
                raise ResumeError(f"the {entry.get('role')} table is not the one the run being resumed read "
                                  f"({entry.get('path')}, {entry.get('sha256')}): start a new run without --resume",
                                  location=Location(str(shown)))
        if then.get("rulebook_hash") != self.run["rulebook_hash"]:
            raise ResumeError(f"the rules changed since the run being resumed began (rulebook {then.get('rulebook_hash')} "
                              f"then, {self.run['rulebook_hash']} now): start a new run without --resume",
                              location=Location(str(self.run.get("rules", ""))))
        for key, value in self.run.items():
            if key not in ("inputs", "rulebook_hash", "rules") and then.get(key) != value:
                raise ResumeError(f"{key} is {value!r} now and was {then.get(key)!r} when the run being resumed "
                                  "began: resume with the same options, or start a new run", location=where)
        for name in self.files:
            entry = files.get(name, {})
            digest = hashlib.sha256()
            length = int(entry.get("bytes", -1))
            try:
                with open(self.folder / name, "rb") as f:
                    for block in iter(lambda: f.read(min(1 << 16, length - f.tell())), b""):
                        digest.update(block)
                    complete = f.tell() == length
                if complete and "sha256:" + digest.hexdigest() == entry.get("sha256"):
                    os.truncate(self.folder / name, length)   # what was written after the checkpoint goes
                    self.hashes[name], self.lengths[name] = digest, length
                    continue
            except (OSError, ValueError):
                pass
            raise ResumeError(f"{name} in the partial results does not match the checkpoint: start a new run "
                              "without --resume", location=where)
        self.resumes = list(saved.get("resumes", [])) + [{"chunk": state.get("chunks"), "at": now()}]
        return dict(state)

    def due(self) -> bool:
        return time.monotonic() - self.last >= self.every

    def hashed(self) -> dict[str, tuple[int, Any]]:
        """Each file's length and running hash as far as hashed (for ``OutputFolder.publish``)."""
        self._wait()
        return {name: (self.lengths[name], self.hashes[name]) for name in self.files}

    def written(self) -> None:
        """The files were flushed: what they gained is hashed beside the run's other work (the bytes of a
        file never change once written, so a read that meets a row half written hashes it all the same)."""
        if self._hashing is not None:
            self._hashed.append(self._hashing.submit(self._read_on))

    def _wait(self) -> None:
        """Until what ``written`` sent is hashed (one thread reads on, one call after another)."""
        for future in self._hashed:
            future.result()
        self._hashed.clear()

    def _read_on(self) -> None:
        for name in self.files:
            with open(self.folder / name, "rb") as f:
                f.seek(self.lengths[name])
                for block in iter(lambda: f.read(HASH_READ), b""):
                    self.hashes[name].update(block)
                self.lengths[name] = f.tell()

    def save(self, state: dict[str, Any]) -> None:
        """Record ``state`` as reached: call right after the files were flushed."""
        self._wait()
        self._read_on()
        files = {name: {"bytes": self.lengths[name], "sha256": "sha256:" + self.hashes[name].hexdigest()}
                 for name in self.files}
        text = json.dumps({"run": self.run, "state": state, "files": files, "resumes": self.resumes,
                           "written": now()}, ensure_ascii=False, indent=1)
        tmp = self.folder / (CHECKPOINT + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(self.path)
        self.last = time.monotonic()
