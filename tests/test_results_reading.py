"""Tests for the file-system side of dhstats.load.results: only regular files are read, with a size
cap, never blocking; discovery checks each directory once and keeps run names
verbatim."""
from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import pytest

from dhstats.load.results import (
    InvalidRun,
    ReadError,
    Run,
    RunFile,
    discover,
    load_run,
    load_runs,
    read_regular,
    scan_etas,
)
from builders import results_doc as doc

FILE = "E_4/run_01/results.json"


@pytest.fixture
def run_file(tmp_path) -> RunFile:
    d = tmp_path / "E_4" / "run_01"
    d.mkdir(parents=True)
    return RunFile("E_4", "run_01", d / "results.json")


def within(seconds: float, fn, *args, **kw):
    """fn(*args, **kw) in a daemon thread; fails (instead of hanging the suite) if it blocks."""
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn(*args, **kw)), daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"{fn.__name__} blocked for more than {seconds} s"
    return out[0]


def problems_of(result) -> list[str]:
    assert isinstance(result, InvalidRun)
    return [str(p) for p in result.problems]


# --------------------------------------------------------------------------- not regular files


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_is_an_input_problem_not_a_hang(run_file):
    # Regression: a FIFO named results.json blocked collection forever.
    os.mkfifo(run_file.path)
    assert problems_of(within(5, load_run, run_file)) == [
        f"{FILE}: not a regular file (a FIFO); only regular files are read"
    ]
    assert within(5, scan_etas, run_file.path) == ()


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_symlink_to_dev_zero_is_an_input_problem_not_a_memory_error(run_file):
    # Regression: MemoryError at collection (exit 2).
    run_file.path.symlink_to("/dev/zero")
    assert problems_of(within(5, load_run, run_file)) == [
        f"{FILE}: not a regular file (a character device); only regular files are read"
    ]
    assert within(5, scan_etas, run_file.path) == ()


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no unix sockets")
def test_socket_is_an_input_problem(tmp_path):
    d = tmp_path / "E_4" / "run_01"
    d.mkdir(parents=True)
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.bind(str(d / "results.json"))
        except OSError as exc:  # path too long for sun_path on some systems
            pytest.skip(f"cannot bind a unix socket here: {exc}")
        (found,) = discover([tmp_path / "E_4"])
        assert problems_of(within(5, load_run, found)) == [
            f"{FILE}: not a regular file (a socket); only regular files are read"
        ]


def test_dangling_symlink_is_file_not_found(run_file):
    run_file.path.symlink_to(run_file.path.parent / "nowhere.json")
    assert problems_of(load_run(run_file)) == [f"{FILE}: file not found"]


def test_symlink_to_a_regular_file_is_read(run_file, tmp_path):
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps(doc()))
    run_file.path.symlink_to(target)
    assert isinstance(load_run(run_file), Run)


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True,
                    reason="root reads files whatever their mode")
def test_unreadable_file(run_file):
    run_file.path.write_text(json.dumps(doc()))
    run_file.path.chmod(0)
    (p,) = problems_of(load_run(run_file))
    assert p.startswith(f"{FILE}: cannot read: ") and "Permission denied" in p


# --------------------------------------------------------------------------- size cap


def test_file_over_the_cap_is_invalid_and_not_parsed(run_file):
    text = json.dumps(doc())
    run_file.path.write_text(text)
    size = len(text.encode())
    assert isinstance(load_run(run_file, max_bytes=size), Run)  # exactly at the cap: read
    assert problems_of(load_run(run_file, max_bytes=size - 1)) == [
        f"{FILE}: {size / 2**20:.1f} MB ({size:,} bytes) exceeds --max-file-mb {(size - 1) / 2**20:g}"
    ]
    assert scan_etas(run_file.path, max_bytes=size - 1) == ()
    assert scan_etas(run_file.path, max_bytes=size) == (1e-6, 2e-6)


def test_cap_message_in_megabytes(run_file):
    run_file.path.write_bytes(b" " * (3 * 2**20 // 2))  # 1.5 MiB
    assert problems_of(load_run(run_file, max_bytes=2**20)) == [
        f"{FILE}: 1.5 MB (1,572,864 bytes) exceeds --max-file-mb 1"
    ]


def test_raw_bytes_over_the_cap(run_file):
    raw = json.dumps(doc()).encode()
    assert problems_of(load_run(run_file, raw, max_bytes=10)) == [
        f"{FILE}: 0.0 MB ({len(raw):,} bytes) exceeds --max-file-mb {10 / 2**20:g}"
    ]


@pytest.mark.skipif(not os.path.isfile("/proc/self/status"), reason="needs Linux /proc")
def test_reading_stops_at_the_cap_when_stat_understates_the_size():
    # /proc files are regular with st_size 0: the size check passes, the read must stop at
    # max_bytes + 1 (the same path guards a file that grows between stat and read).
    path = Path("/proc/self/status")
    assert os.stat(path).st_size == 0
    with pytest.raises(ReadError, match=r"^0\.0\+ MB \(11\+ bytes\) exceeds --max-file-mb"):
        read_regular(path, max_bytes=10)
    assert read_regular(path, max_bytes=2**20).startswith(b"Name:")


def test_read_regular_returns_the_bytes(tmp_path):
    p = tmp_path / "x.json"
    p.write_bytes(b"\x00\xff{}" * 1000)
    assert read_regular(p) == b"\x00\xff{}" * 1000
    p.write_bytes(b"")
    assert read_regular(p) == b""


# --------------------------------------------------------------------------- discovery


def make_run(root: Path, name: str) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "results.json").write_text(json.dumps(doc()))
    return d


def test_same_directory_given_twice_is_checked_once(tmp_path):
    # Regression: `--results E_4 --results E_4` doubled every case.
    root = tmp_path / "E_4"
    make_run(root, "run_01")
    make_run(root, "run_02")
    once = discover([root])
    assert discover([root, root]) == once
    assert discover([root, tmp_path / "." / "E_4", str(root) + "/"]) == once
    (tmp_path / "alias").symlink_to(root)  # same resolved path under another name
    assert discover([root, tmp_path / "alias"]) == once
    assert len(load_runs([root, root])) == 2


def test_a_run_given_alone_and_with_its_run_set_is_checked_once(tmp_path):
    root = tmp_path / "E_4"
    r1 = make_run(root, "run_01")
    make_run(root, "run_02")
    assert [f.run for f in discover([r1, root])] == ["run_01", "run_02"]
    assert [f.run for f in discover([root, r1])] == ["run_01", "run_02"]


@pytest.mark.parametrize("name", [
    "run_<img src=x onerror=document.title='PWNED'>",
    "run_x\\y",
    "run_" + "é" * 113,  # 230 bytes in UTF-8, 117 characters
    "run_" + "x" * 226,  # 230 characters
    "run_ space & \"quotes\" 'single' %s {} $HOME",
    "run_*?[]",
])
def test_run_names_are_kept_verbatim(tmp_path, name):
    root = tmp_path / "E_4"
    make_run(root, name)
    make_run(root, "run_x_y")
    found = discover([root])
    assert sorted(f.run for f in found) == sorted([name, "run_x_y"])
    f = next(f for f in found if f.run == name)
    assert f.path == root.resolve() / name / "results.json"
    assert f.display == f"E_4/{name}/results.json"
    assert isinstance(load_run(f), Run)


def test_run_glob_characters_in_the_root_name(tmp_path):
    root = tmp_path / "[E_4]*"
    make_run(root, "run_01")
    assert [f.run for f in discover([root])] == ["run_01"]


def test_root_run_dir_whose_results_is_a_fifo_is_still_a_run(tmp_path):
    # a run directory given as a root is recognised by its results.json whatever its type,
    # so the FIFO becomes that run's input problem (not "no run_*/results.json found")
    d = tmp_path / "E_4" / "run_01"
    d.mkdir(parents=True)
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs")
    os.mkfifo(d / "results.json")
    (f,) = discover([d])
    assert problems_of(within(5, load_run, f)) == [
        f"{FILE}: not a regular file (a FIFO); only regular files are read"
    ]


# --------------------------------------------------------------------------- encoding


def test_invalid_utf8_in_an_ignored_string_is_invalid_json(run_file):
    # Regression (fuzz): an encoded surrogate (ED A0 80) inside a string the gate ignores
    # passed through json.loads(bytes), which decodes with 'surrogatepass'; JSON is UTF-8.
    d = doc()
    d["note"] = "PLACEHOLDER"
    raw = json.dumps(d).encode().replace(b"PLACEHOLDER", b"\xed\xa0\x80")
    run_file.path.write_bytes(raw)
    (p,) = problems_of(load_run(run_file))
    assert p.startswith(f"{FILE}: not valid JSON: 'utf-8' codec can't decode byte 0xed")
    # the fallback still reads NaN tokens (so their JSON path can be named)
    run_file.path.write_bytes(json.dumps(d).replace('"delta_h_per_lr": -1.0', '"delta_h_per_lr": NaN').encode())
    assert problems_of(load_run(run_file)) == [f"{FILE}: approx.delta_h_per_lr: nan is not finite"]
