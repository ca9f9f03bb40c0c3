"""Result folders are whole or absent: a killed batch never leaves one that claims to be complete."""

from __future__ import annotations

import datetime as dt
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from incentives import IncentivesError, Rulebook
from incentives._output import MANIFEST, OutputFolder, file_digest, read_manifest
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


def batch_command(enterprises: Path, out: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "incentives.cli", "batch", str(enterprises), "-o", str(out), "--rules",
            str(ROOT / "rules"), "--as-of", "2026-06-30", "--workers", str(workers), "--chunk-size", "500"]


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
            assert child.returncode in (0, -signal.SIGKILL)
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

