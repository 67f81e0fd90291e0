"""Judge valgrind memcheck XML reports: fail on any error in fastdispatch code.

CPython itself makes memcheck report errors valgrind cannot tell apart from
bugs (uninitialised bytes from getrandom, its own finalisation leaks), so the
verdict is "no error in fastdispatch code": an error (invalid read or write,
use of uninitialised values, invalid free, or a definite leak: whatever
valgrind reports as an ``<error>``) fails the run if any frame of its stack is
in ``_dispatcher_c``, i.e. in the module's object file or source file, or in a
Cython-generated ``__pyx_`` function. Other errors are counted by kind and
reported, not judged.

A report that is not well-formed XML (a forked child that exec'd leaves a
truncated one) is noted and skipped, but at least one report must be readable.

Used by ``checks.memcheck``; also runnable on reports at hand::

    cd .ci && python -m checks.valgrind_report /tmp/vg.*.xml
"""

from __future__ import annotations

import collections
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MODULE = "_dispatcher_c"
# Stack frames printed per error of ours: enough to see where it happened.
SHOWN_FRAMES = 12


@dataclass(frozen=True)
class Frame:
    fn: str
    obj: str
    file: str

    def in_fastdispatch(self) -> bool:
        return MODULE in self.obj or MODULE in self.file or self.fn.startswith("__pyx_")


@dataclass(frozen=True)
class ValgrindError:
    kind: str
    what: str
    frames: tuple[Frame, ...]

    def in_fastdispatch(self) -> bool:
        return any(frame.in_fastdispatch() for frame in self.frames)


@dataclass(frozen=True)
class Verdict:
    """What the reports say: errors in fastdispatch code (``ours``) fail."""

    ours: tuple[ValgrindError, ...] = ()
    theirs: dict[str, int] = field(default_factory=dict)
    readable_reports: int = 0
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.readable_reports > 0 and not self.ours

    def lines(self) -> list[str]:
        """The verdict as printed by the memory check."""
        out = list(self.notes)
        if self.readable_reports == 0:
            out.append("(b) FAILED: no readable valgrind report was written")
            return out
        out.append(
            f"valgrind: {sum(self.theirs.values())} error(s) outside fastdispatch (CPython and "
            f"libraries, not judged): {self.theirs}"
        )
        if self.ours:
            out.append(f"(b) FAILED: {len(self.ours)} error(s) with a frame in {MODULE}:")
            for error in self.ours:
                out.append(f"  {error.kind}: {error.what}")
                for frame in error.frames[:SHOWN_FRAMES]:
                    out.append(f"      {frame.fn}  ({frame.file or frame.obj})")
        else:
            out.append("(b) passed: no valgrind error in fastdispatch code")
        return out


def parse_valgrind_errors(xml_text: str) -> list[ValgrindError]:
    """The ``<error>`` elements of one valgrind ``--xml=yes`` report.

    Raises ``xml.etree.ElementTree.ParseError`` if the report is not well-formed.
    """
    root = ET.fromstring(xml_text)
    errors = []
    for error in root.iter("error"):
        kind = error.findtext("kind", "?")
        frames = tuple(
            Frame(frame.findtext("fn", "?"), frame.findtext("obj", ""), frame.findtext("file", ""))
            for frame in error.iter("frame")
        )
        what = error.findtext("what") or error.findtext("xwhat/text") or kind
        errors.append(ValgrindError(kind, what, frames))
    return errors


def judge_valgrind_report(xml_text: str) -> Verdict:
    """The verdict on one well-formed report (raises ``ParseError`` otherwise)."""
    ours: list[ValgrindError] = []
    theirs: collections.Counter[str] = collections.Counter()
    for error in parse_valgrind_errors(xml_text):
        if error.in_fastdispatch():
            ours.append(error)
        else:
            theirs[error.kind] += 1
    return Verdict(tuple(ours), dict(theirs), readable_reports=1)


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """One verdict for several reports (one per process valgrind followed)."""
    ours: list[ValgrindError] = []
    theirs: collections.Counter[str] = collections.Counter()
    readable = 0
    notes: list[str] = []
    for verdict in verdicts:
        ours.extend(verdict.ours)
        theirs.update(verdict.theirs)
        readable += verdict.readable_reports
        notes.extend(verdict.notes)
    return Verdict(tuple(ours), dict(theirs), readable, tuple(notes))


def judge_valgrind_reports(paths: Sequence[Path]) -> Verdict:
    """The verdict on report files; unreadable ones are noted and skipped."""
    verdicts = []
    for path in sorted(paths):
        try:
            verdicts.append(judge_valgrind_report(path.read_text(errors="replace")))
        except ET.ParseError as error:
            verdicts.append(Verdict(notes=(f"note: {path}: unreadable ({error})",)))
    return combine(verdicts)


def main(argv: Sequence[str]) -> int:
    if not argv:
        print("usage: python -m checks.valgrind_report REPORT.xml...", file=sys.stderr)
        return 2
    verdict = judge_valgrind_reports([Path(name) for name in argv])
    print("\n".join(verdict.lines()))
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
