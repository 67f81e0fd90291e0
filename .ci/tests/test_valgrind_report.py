"""The valgrind judge on real memcheck reports (trimmed, see data/README.md)
and on small hand-written ones for the rules' corners."""

from __future__ import annotations

from pathlib import Path

from checks.valgrind_report import (
    Frame,
    judge_valgrind_report,
    judge_valgrind_reports,
    main,
    parse_valgrind_errors,
)

DATA = Path(__file__).resolve().parent / "data"
CLEAN = DATA / "valgrind-clean.xml"
DISPATCHER_ERROR = DATA / "valgrind-dispatcher-c-error.xml"


def report(*errors: str) -> str:
    return f"<?xml version='1.0'?><valgrindoutput>{''.join(errors)}</valgrindoutput>"


def error(kind: str, *frames: tuple[str, str, str], what: str | None = "what") -> str:
    stack = "".join(
        f"<frame><fn>{fn}</fn><obj>{obj}</obj><file>{file}</file></frame>" for fn, obj, file in frames
    )
    described = f"<what>{what}</what>" if what is not None else "<xwhat><text>leaked</text></xwhat>"
    return f"<error><kind>{kind}</kind>{described}<stack>{stack}</stack></error>"


CPYTHON_FRAME = ("PyObject_Malloc", "/usr/lib/libpython3.11.so.1.0", "obmalloc.c")


def test_a_clean_real_run_passes_and_counts_cpythons_errors() -> None:
    verdict = judge_valgrind_report(CLEAN.read_text())
    assert verdict.passed
    assert verdict.ours == ()
    assert verdict.theirs == {"UninitCondition": 1, "UninitValue": 4}
    assert verdict.lines()[-1] == "(b) passed: no valgrind error in fastdispatch code"


def test_a_real_invalid_write_in_dispatcher_c_fails() -> None:
    verdict = judge_valgrind_report(DISPATCHER_ERROR.read_text())
    assert not verdict.passed
    assert [e.kind for e in verdict.ours] == ["InvalidWrite"]
    assert any("_dispatcher_c" in frame.obj for frame in verdict.ours[0].frames)
    lines = verdict.lines()
    assert "(b) FAILED: 1 error(s) with a frame in _dispatcher_c:" in lines
    assert any(line.startswith("  InvalidWrite: Invalid write of size 8") for line in lines)


def test_any_frame_in_the_module_makes_the_error_ours() -> None:
    by_object = error("InvalidRead", CPYTHON_FRAME, ("f", "/x/_dispatcher_c.cpython-311.so", ""))
    by_file = error("InvalidRead", CPYTHON_FRAME, ("f", "/x/lib.so", "_dispatcher_c.c"))
    by_cython_name = error("InvalidFree", CPYTHON_FRAME, ("__pyx_pw_Signal_send", "?", ""))
    verdict = judge_valgrind_report(report(by_object, by_file, by_cython_name))
    assert [e.kind for e in verdict.ours] == ["InvalidRead", "InvalidRead", "InvalidFree"]
    assert verdict.theirs == {}


def test_errors_elsewhere_are_counted_by_kind_not_judged() -> None:
    cpython = error("Leak_DefinitelyLost", CPYTHON_FRAME, what=None)
    verdict = judge_valgrind_report(report(cpython, cpython, error("UninitValue", CPYTHON_FRAME)))
    assert verdict.passed
    assert verdict.theirs == {"Leak_DefinitelyLost": 2, "UninitValue": 1}


def test_a_leak_is_described_by_its_xwhat_text() -> None:
    leak = error("Leak_DefinitelyLost", ("__pyx_tp_new", "", ""), what=None)
    (parsed,) = parse_valgrind_errors(report(leak))
    assert parsed.what == "leaked"
    assert parsed.frames == (Frame("__pyx_tp_new", "", ""),)
    assert not judge_valgrind_report(report(leak)).passed


def test_a_truncated_report_is_noted_and_skipped(tmp_path: Path) -> None:
    truncated = tmp_path / "vg.2.xml"
    truncated.write_text(DISPATCHER_ERROR.read_text()[:2000])
    verdict = judge_valgrind_reports([CLEAN, truncated])
    assert verdict.passed
    assert verdict.readable_reports == 1
    assert verdict.notes[0].startswith(f"note: {truncated}: unreadable")


def test_no_readable_report_fails(tmp_path: Path) -> None:
    truncated = tmp_path / "vg.2.xml"
    truncated.write_text("<?xml version='1.0'?><valgrindoutput><error>")
    for paths in ([], [truncated]):
        verdict = judge_valgrind_reports(paths)
        assert not verdict.passed
        assert verdict.lines()[-1] == "(b) FAILED: no readable valgrind report was written"


def test_reports_of_several_processes_are_judged_together() -> None:
    verdict = judge_valgrind_reports([CLEAN, DISPATCHER_ERROR])
    assert not verdict.passed
    assert verdict.readable_reports == 2
    assert len(verdict.ours) == 1
    assert sum(verdict.theirs.values()) >= 5


def test_the_command_line_exit_status(capsys: object) -> None:
    assert main([str(CLEAN)]) == 0
    assert main([str(DISPATCHER_ERROR)]) == 1
    assert main([]) == 2
