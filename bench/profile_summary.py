"""Summarise a py-spy "raw" (folded) profile: where a Daphne process spent its samples.

`python -m bench.run --profile` writes bench/results/profiles/<scenario>.folded (py-spy
installed in the virtualenv by hand: `.venv/bin/pip install py-spy`; it is not a project
dependency). Then:

    .venv/bin/python -m bench.profile_summary bench/results/profiles/throughput.folded

prints the share of samples whose stack passes through each function (inclusive), the top
self-time frames, and the share of samples the process was idle (waiting in epoll).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

IDLE = re.compile(r"\b(poll|epoll|select|_wait_for_tstate_lock|wait) \(")


def load(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def short(frame: str) -> str:
    """`func (path/to/module.py:123)` -> `func (module.py)`, keeping the package for context."""
    m = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if not m:
        return frame
    func, where = m.groups()
    parts = Path(where).parts
    tail = "/".join(parts[-2:]) if len(parts) >= 2 else where
    return f"{func} ({tail})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("folded", type=Path)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--match", default="", help="only functions whose name contains this")
    args = parser.parse_args(argv)
    stacks = load(args.folded)
    total = sum(n for _, n in stacks) or 1
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    idle = 0
    for frames, n in stacks:
        names = {short(f) for f in frames}
        for name in names:
            inclusive[name] += n
        if frames:
            self_time[short(frames[-1])] += n
            if IDLE.search(frames[-1]):
                idle += n
    print(f"{total} samples; idle (waiting in poll/select/locks): {100 * idle / total:.1f}%")
    print("\ninclusive share of samples:")
    for name, n in inclusive.most_common():
        if args.match and args.match not in name:
            continue
        print(f"  {100 * n / total:5.1f}%  {name}")
        args.top -= 1
        if args.top <= 0:
            break
    print("\nself time:")
    for name, n in self_time.most_common(15):
        print(f"  {100 * n / total:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
