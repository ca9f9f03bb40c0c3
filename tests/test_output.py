"""Result folders are whole or absent: a killed batch never leaves one that claims to be complete."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from incentives import IncentivesError, Rulebook
from incentives._output import CHECKPOINT, MANIFEST, OutputFolder, file_digest, read_manifest
from incentives.batch import run_batch
from incentives.cli import main
from incentives.synth import synthesize, write_register

from conftest import ROOT

AS_OF = dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def registers(tmp_path_factory: pytest.TempPathFactory, book: Rulebook) -> tuple[Path, Path]:
    """Two registers: a small one, and one large enough that a run takes a few seconds."""
    root = tmp_path_factory.mktemp("registers")
    small = write_register(synthesize("all", 300, seed=2, rulebook=book, as_of=AS_OF), root / "small")[0]
    large = write_register(synthesize("all", 30_000, seed=3, rulebook=book, as_of=AS_OF), root / "large")[0]
    return small, large


def consistent(folder: Path) -> bool:
    """The folder's manifest says complete and every file it lists is there with its hash."""
    manifest = read_manifest(folder)
    if manifest is None:
        return False
    return all(file_digest(folder / name) == entry["sha256"] for name, entry in manifest["files"].items())


def claims_complete(parent: Path) -> list[Path]:
    return [p for p in parent.iterdir() if p.is_dir() and (p / MANIFEST).exists() and read_manifest(p) is not None]


def batch_command(enterprises: Path, out: Path, workers: int, block: int | None = None) -> list[str]:
    """The command line of a batch in a new process; with ``block``, the columnar path reads blocks of that
    many bytes (many chunks of a small register). ``[3:]`` is the part after the program."""
    start = [sys.executable, "-m", "incentives.cli"] if block is None else [
        sys.executable, "-c", f"import sys, incentives.columnar as c; c.BLOCK_BYTES = {block}; "
        "from incentives.cli import main; sys.exit(main())"]
    return [*start, "batch", str(enterprises), "-o", str(out), "--rules", str(ROOT / "rules"), "--as-of",
            "2026-06-30", "--workers", str(workers), "--chunk-size", "500"]


@pytest.mark.parametrize("sig, workers", [(signal.SIGKILL, 1), (signal.SIGKILL, 2), (signal.SIGINT, 1),
                                          (signal.SIGINT, 2), (signal.SIGTERM, 1), (signal.SIGTERM, 2)])
def test_a_killed_run_never_leaves_a_folder_that_claims_to_be_complete(
        registers: tuple[Path, Path], tmp_path: Path, sig: int, workers: int) -> None:
    small, large = registers
    out = tmp_path / "results"
    assert main(["batch", str(small), "-o", str(out), "--rules", str(ROOT / "rules"), "--as-of", "2026-06-30"]) == 0
    before = read_manifest(out)
    assert before is not None and consistent(out)
    rng = random.Random(f"{sig}-{workers}")
    for attempt in range(3):
        child = subprocess.Popen(batch_command(large, out, workers), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, cwd=tmp_path)
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".results.partial-*")) and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)  # the run has started writing (and has set its signal handling up)
        time.sleep(rng.uniform(0, 2.5))
        child.send_signal(sig)
        _, err = child.communicate(timeout=120)
        now = read_manifest(out)
        assert now is not None and consistent(out), "the results folder is partial"
        replaced = now["inputs"][0]["path"] == str(large)
        if child.returncode == 0:   # finished before the signal: the new results, complete
            assert replaced
        elif not replaced:          # killed before the results were swapped in: the previous ones, untouched
            assert now == before
        # (killed after the swap, while exiting: the new results stand whole, which the checks above prove)
        assert claims_complete(tmp_path) == [out], "another folder claims to be complete"
        caught = {signal.SIGINT: (130, "incentives: interrupted\n"), signal.SIGTERM: (143, "incentives: terminated\n")}
        if sig in caught and child.returncode == -sig:
            assert replaced   # interrupted while the interpreter was exiting, its handlers gone: the run was done
        elif sig in caught and child.returncode != 0:
            assert (child.returncode, err) == caught[sig], err
            assert not list(tmp_path.glob(".results.partial-*")), "Ctrl-C and kill leave no partial folder"
        if sig == signal.SIGKILL:
            assert child.returncode in (0, -signal.SIGKILL), err
        before = now   # the next attempt must leave these results as they are, or replace them whole


def test_a_killed_first_run_leaves_no_results_folder(registers: tuple[Path, Path], tmp_path: Path) -> None:
    child = subprocess.Popen(batch_command(registers[1], tmp_path / "results", 1), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    while not list(tmp_path.glob(".results.partial-*")) and child.poll() is None:
        time.sleep(0.01)
    child.kill()
    child.wait()
    assert not (tmp_path / "results").exists() and claims_complete(tmp_path) == []
    partial, = tmp_path.glob(".results.partial-*")
    assert not (partial / MANIFEST).exists()
    run_batch(registers[0], tmp_path / "results", ROOT / "rules", AS_OF)  # the next run sweeps it away
    assert not partial.exists() and consistent(tmp_path / "results")


def test_the_manifest_describes_the_run(registers: tuple[Path, Path], book: Rulebook, tmp_path: Path) -> None:
    summary = run_batch(registers[0], tmp_path / "out", book, AS_OF)
    manifest = read_manifest(tmp_path / "out")
    assert manifest is not None and manifest == summary.manifest
    assert manifest["rulebook_hash"] == book.hash and manifest["as_of"] == "2026-06-30"
    assert [(i["role"], i["sha256"]) for i in manifest["inputs"]] == [
        ("enterprises", file_digest(registers[0])), ("records", file_digest(registers[0].with_name("records.csv")))]
    assert manifest["rows"]["enterprise_rows"] == 300 and manifest["rows"]["balanced"] is True
    assert manifest["files"]["awards.csv"]["rows"] == summary.total.awards
    assert set(manifest["files"]) == {"awards.csv", "errors.csv", "summary.json", "summary.csv"}
    assert manifest["started"] <= manifest["ended"]
    header = (tmp_path / "out" / "awards.csv").read_text(encoding="utf-8").splitlines()
    assert header[0].endswith(",rulebook_hash") and all(line.endswith(book.hash) for line in header[1:])


@pytest.mark.parametrize("path", ["columnar", "rows"])
@pytest.mark.parametrize("every", [0, 3600])
def test_the_manifest_hashes_files_checkpointed_as_they_grew(registers: tuple[Path, Path], book: Rulebook,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            path: str, every: int) -> None:
    """A checkpoint after every chunk, or none before the end: either way the files are hashed as each
    chunk's rows are written, beside the run, and the manifest's hashes are the files'."""
    import incentives.columnar as columnar

    monkeypatch.setattr(columnar, "BLOCK_BYTES", 4096)   # many chunks: hashed in many steps
    run_batch(registers[0], tmp_path / "out", book, AS_OF, path=path, chunk_size=20, checkpoint_seconds=every)
    manifest = read_manifest(tmp_path / "out")
    assert manifest is not None and manifest["files"]["awards.csv"]["rows"] > 0 and consistent(tmp_path / "out")


@pytest.mark.parametrize("target, message", [
    ("/proc/self/results", "results cannot go under /proc"), ("/sys/results", "results cannot go under /sys"),
    ("/dev/null", "results cannot go under /dev")])
def test_system_folders_are_refused(target: str, message: str) -> None:
    with pytest.raises(IncentivesError, match=message):
        OutputFolder(Path(target))


def test_an_output_path_that_is_a_file_or_a_folder_of_other_files_is_refused(
        registers: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "awards.txt"
    file.write_text("keep me")
    args = ["batch", str(registers[0]), "--rules", str(ROOT / "rules"), "--as-of", "2026-06-30", "-o"]
    assert main([*args, str(file)]) == 2
    assert capsys.readouterr().err == f"incentives: {file}: is a file, not a folder: results are a folder of files\n"
    assert main([*args, str(tmp_path)]) == 2  # holds the register's own folder: never replaced
    assert "holds other files and no earlier results" in capsys.readouterr().err
    assert main([*args, "/proc/results"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert file.read_text() == "keep me"



def killed_with_a_checkpoint(enterprises: Path, out: Path, delay: float, workers: int = 1,
                             rules: Path = ROOT / "rules", every: float = 0, path: str = "rows",
                             piped: bool = False) -> Path:
    """Start a batch on ``path`` that records a checkpoint at most every ``every`` seconds, SIGKILL it ``delay``
    seconds after its first checkpoint, and return the partial folder it leaves (with its checkpoint). With
    ``piped``, the enterprises table is read from standard input."""
    import shutil

    argv = [*batch_command(enterprises, out, workers, BLOCK if path == "columnar" else None),
            "--checkpoint-seconds", str(every), "--path", path]
    argv[argv.index("--rules") + 1] = str(rules)
    if piped:
        argv[argv.index(str(enterprises))] = "-"
        argv += ["--records", str(enterprises.with_name("records.csv"))]
    for _ in range(6):   # a machine with idle cores may finish first: then again, killed sooner
        with open(enterprises if piped else os.devnull, "rb") as stdin:
            child = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not list(out.parent.glob(f".{out.name}.partial-*/{CHECKPOINT}")) and time.monotonic() < deadline:
            assert child.poll() is None, "the run ended before its first checkpoint"
            time.sleep(0.005)
        time.sleep(delay)
        child.kill()
        child.wait()
        left = list(out.parent.glob(f".{out.name}.partial-*"))
        if child.returncode == -signal.SIGKILL and [p for p in left if (p / CHECKPOINT).is_file()]:
            break
        for folder in [out, *left]:   # finished, or killed as it published: again, killed sooner
            shutil.rmtree(folder, ignore_errors=True)
        delay /= 3
    assert child.returncode == -signal.SIGKILL, "the run ended before it was killed"
    partial, = out.parent.glob(f".{out.name}.partial-*")
    assert (partial / CHECKPOINT).is_file() and read_manifest(partial) is None
    return partial


def test_a_run_killed_but_not_yet_reaped_by_its_parent_is_resumed(registers: tuple[Path, Path], tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A job runner that has not waited for the batch it killed leaves a zombie under the partial folder's
    pid: the folder is stale all the same, and --resume goes on from its checkpoint."""
    from incentives._output import _alive

    out = tmp_path / "results"
    child = subprocess.Popen([*batch_command(registers[1], out, 1), "--checkpoint-seconds", "0", "--path", "rows"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not list(tmp_path.glob(f".results.partial-{child.pid}-*/{CHECKPOINT}")):
            assert child.poll() is None, "the run ended before its first checkpoint"
            time.sleep(0.005)
        time.sleep(0.2)
        os.kill(child.pid, signal.SIGKILL)   # not waited for: a zombie until child.wait()
        while Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
            time.sleep(0.01)
        assert not _alive(child.pid) and _alive(os.getpid())
        partial, = tmp_path.glob(".results.partial-*")
        chunks = json.loads((partial / CHECKPOINT).read_text(encoding="utf-8"))["state"]["chunks"]
        capsys.readouterr()
        assert main([*batch_command(registers[1], out, 1)[3:], "--resume", "--path", "rows"]) == 0
        assert f"resumed after chunk {chunks:,} " in capsys.readouterr().out
    finally:
        child.kill()
        child.wait()


def without_timing(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in ("seconds", "enterprises_per_second", "workers")}


BLOCK = 65536   # bytes of enterprises a columnar chunk reads in the kill tests: about 50 chunks of the large register


@pytest.mark.parametrize("path", ["rows", "columnar"])
def test_a_run_resumed_after_sigkill_writes_what_an_uninterrupted_run_writes(
        registers: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    import incentives.columnar as columnar

    monkeypatch.setattr(columnar, "BLOCK_BYTES", BLOCK)   # as the killed runs read it
    large = registers[1]
    whole = tmp_path / "whole"
    assert main([*batch_command(large, whole, 1)[3:], "--path", path]) == 0
    reference = read_manifest(whole)
    assert reference is not None
    rng = random.Random(9)
    chunks_resumed, written_after = [], []   # the chunk each run resumed after, bytes written past its checkpoint
    for attempt, workers in enumerate((1, 2, 1)):
        out = tmp_path / f"resumed-{attempt}"
        partial = killed_with_a_checkpoint(large, out, rng.uniform(0, 1.5), workers, every=0.3, path=path)
        checkpoint = json.loads((partial / CHECKPOINT).read_text(encoding="utf-8"))
        assert checkpoint["run"]["path"] == path
        beyond = (partial / "awards.csv").stat().st_size - checkpoint["files"]["awards.csv"]["bytes"]
        capsys.readouterr()
        assert main([*batch_command(large, out, 2 - attempt % 2)[3:], "--resume", "--path", path]) == 0
        said = capsys.readouterr().out
        assert f"resumed after chunk {checkpoint['state']['chunks']:,} " in said
        chunks_resumed.append(checkpoint["state"]["chunks"])
        written_after.append(beyond)
        for name in ("awards.csv", "errors.csv", "summary.csv"):
            assert (out / name).read_bytes() == (whole / name).read_bytes(), name
        assert without_timing(json.loads((out / "summary.json").read_text(encoding="utf-8"))) == without_timing(
            json.loads((whole / "summary.json").read_text(encoding="utf-8")) | {"output_dir": str(out)})
        manifest = read_manifest(out)
        assert manifest is not None and consistent(out) and not list(tmp_path.glob(".resumed-*"))
        assert manifest["resumed"] == [{"chunk": checkpoint["state"]["chunks"], "at": manifest["resumed"][0]["at"]}]
        assert manifest["started"] == checkpoint["state"]["started"] and CHECKPOINT not in manifest["files"]
        for key in ("inputs", "rows", "rulebook_hash", "as_of"):
            assert manifest[key] == reference[key]
    assert len(set(chunks_resumed)) > 1 and max(chunks_resumed) > 0   # killed at different points
    assert max(written_after) > 0   # rows written after the last checkpoint were cut off, not kept twice


@pytest.mark.parametrize("path", ["rows", "columnar"])
def test_a_run_reading_standard_input_resumes_only_on_the_same_bytes(registers: tuple[Path, Path], tmp_path: Path,
                                                                    path: str) -> None:
    """Standard input is copied afresh by each run, but the checkpoint holds the hash of the bytes read under
    <stdin>: the same bytes piped again go on from the checkpoint to the files of an uninterrupted run; other
    bytes are refused, one line at <stdin>, and the partial results are kept for a later try."""
    large = registers[1]
    whole, out = tmp_path / "whole", tmp_path / "resumed"
    assert main([*batch_command(large, whole, 1)[3:], "--path", path]) == 0
    partial = killed_with_a_checkpoint(large, out, 0.3, path=path, piped=True)
    checkpoint = json.loads((partial / CHECKPOINT).read_text(encoding="utf-8"))
    assert checkpoint["run"]["inputs"][0]["path"] == "<stdin>"
    argv = [*batch_command(large, out, 1, BLOCK if path == "columnar" else None), "--resume", "--path", path,
            "--records", str(large.with_name("records.csv"))]
    argv[argv.index(str(large))] = "-"
    other = large.read_bytes()
    other = other[:other.rindex(b"\n", 0, len(other) - 1) + 1]   # the last enterprise left out
    refused = subprocess.run(argv, input=other, capture_output=True)
    assert refused.returncode == 2 and refused.stderr.decode().startswith(
        "incentives: <stdin>: the enterprises table is not the one the run being resumed read (<stdin>, sha256:")
    assert refused.stderr.count(b"\n") == 1 and list(tmp_path.glob(".resumed.partial-*"))
    resumed = subprocess.run(argv, input=large.read_bytes(), capture_output=True, text=False)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed after chunk {checkpoint['state']['chunks']:,} ".encode() in resumed.stdout
    for name in ("awards.csv", "errors.csv", "summary.csv"):
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name
    manifest, reference = read_manifest(out), read_manifest(whole)
    assert manifest is not None and reference is not None and consistent(out)
    assert manifest["inputs"] == [{**reference["inputs"][0], "path": "<stdin>"}, reference["inputs"][1]]


def test_resume_refuses_changed_inputs_rules_or_partial_files(registers: tuple[Path, Path], tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    register = tmp_path / "register"
    shutil.copytree(registers[1].parent, register)
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    shutil.copytree(ROOT / "sources", tmp_path / "sources")   # the rule files cite ../sources/
    enterprises, out = register / "enterprises.csv", tmp_path / "results"
    killed_with_a_checkpoint(enterprises, out, 0.2, rules=rules)
    args = [*batch_command(enterprises, out, 1)[3:], "--resume", "--path", "rows"]
    args[args.index("--rules") + 1] = str(rules)

    def refused(why: str) -> None:
        capsys.readouterr()
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and why in err, err
        assert not out.exists() and len(list(tmp_path.glob(".results.partial-*"))) == 1  # kept, for a later try

    records = register / "records.csv"
    kept = records.read_bytes()
    records.write_bytes(kept + kept.splitlines(keepends=True)[-1])
    refused(f"incentives: {records}: the records table is not the one the run being resumed read")
    records.write_bytes(kept)
    langfang = rules / "langfang.yaml"
    text = langfang.read_text(encoding="utf-8")
    langfang.write_text(text.replace("title:", "title:  ", 1), encoding="utf-8")  # the same rules, another text
    refused(f"incentives: {rules}: the rules changed since the run being resumed began")
    langfang.write_text(text, encoding="utf-8")
    args[args.index("--chunk-size") + 1] = "400"
    refused("chunk_size is 400 now and was 500 when the run being resumed began")
    args[args.index("--chunk-size") + 1] = "500"
    partial, = tmp_path.glob(".results.partial-*")
    with open(partial / "awards.csv", "r+b") as f:
        f.seek(200)
        f.write(b"X")
    refused(f"{tmp_path}/.results.partial-")  # the folder, renamed to each process that takes it over
    refused(f"/{CHECKPOINT}: awards.csv in the partial results does not match the checkpoint")
    assert main([*args, "--format", "parquet"]) == 2
    assert "can be resumed" in capsys.readouterr().err


def test_scratch_folders_that_killed_runs_left_are_removed_and_a_running_ones_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL runs no cleanup: the next run that needs a scratch folder of the same kind removes the ones
    whose process is gone, and leaves those of a process still running, and other kinds, alone."""
    import tempfile

    from incentives._output import scratch_folder

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = tmp_path / f"incentives-codes-{gone.pid}-abc"
        alive = tmp_path / f"incentives-codes-{running.pid}-def"
        other = tmp_path / f"incentives-rules-{gone.pid}-ghi"
        for folder in (dead, alive, other):
            folder.mkdir()
            (folder / "00").write_bytes(b"\0" * 8)
        with scratch_folder("incentives-codes-") as made:
            assert Path(made).parent == tmp_path and Path(made).name.startswith(f"incentives-codes-{os.getpid()}-")
            assert not dead.exists() and alive.exists() and other.exists()
        assert not Path(made).exists()
    finally:
        running.kill()
        running.wait()


def with_small_files(argv: list[str], size: int = 8192) -> subprocess.CompletedProcess[str]:
    """``argv`` run in a process whose files may not grow past ``size`` bytes: a write past it fails (EFBIG)
    as one to a full disk does (ENOSPC). It writes no bytecode, which would be cut short too."""
    def limit() -> None:
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return subprocess.run(argv, capture_output=True, text=True, preexec_fn=limit,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


@pytest.mark.parametrize("path", ["rows", "columnar"])
def test_results_that_cannot_be_written_are_one_located_line_and_leave_nothing(
        registers: tuple[Path, Path], tmp_path: Path, path: str) -> None:
    out = tmp_path / "results"
    proc = with_small_files([*batch_command(registers[0], out, 1), "--path", path])
    assert (proc.returncode, proc.stderr) == (2, f"incentives: {out}: cannot write the results: File too large\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path", ["rows", "columnar"])
def test_an_xlsx_that_cannot_be_written_is_one_located_line_and_nothing_more(book: Rulebook, tmp_path: Path,
                                                                             path: str) -> None:
    """The disk fills as awards.xlsx is saved (openpyxl's parts, its temporary files, the rows set in): the
    one located line, and not Python's "Exception ignored in: <function ZipFile.__del__ …>" after it."""
    enterprises = write_register(synthesize("langfang", 30, seed=2, rulebook=book, as_of=AS_OF),
                                 tmp_path / "register")[0]
    out = tmp_path / "runs" / "results"
    out.parent.mkdir()
    whole = run_batch(enterprises, tmp_path / "whole", book, AS_OF, output_format="xlsx", path=path)
    assert 0 < whole.total.awards and (tmp_path / "whole" / "awards.xlsx").stat().st_size < 8192
    for size in (1000, 2000, 3000, 4000, 5000):   # each fails in another part of the saving
        proc = with_small_files([*batch_command(enterprises, out, 1), "--path", path, "--format", "xlsx"], size)
        assert (proc.returncode, proc.stderr) == (2, f"incentives: {out}: cannot write the results: File too large\n")
        assert list(out.parent.iterdir()) == []


def test_a_synthetic_xlsx_register_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    """``synth --format xlsx`` saves its workbook as batch does (``header_workbook``): a write that fails, in
    its spooled rows or as it is saved, is one line, with no stream of openpyxl's failing again at exit."""
    out = tmp_path / "register"
    for size in (1000, 3000, 5000):
        proc = with_small_files([sys.executable, "-m", "incentives", "synth", "--city", "langfang", "--n", "20",
                                 "--format", "xlsx", "-o", str(out), "--rules", str(ROOT / "rules")], size)
        assert (proc.returncode, proc.stderr) == (2, f"incentives: {out}: cannot write the register: File too large\n")
