"""Shared helpers of the tools/ cross-check scripts: the tomostore binary to run, a pass/fail
tally, and the closing 'N passed, M failed' line."""
import subprocess
import sys

TOMO = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else ".build/release/tomostore"


class Tally:
    """Counts checks; keeps the description of each failure."""

    def __init__(self):
        self.passed, self.failed = 0, []

    def check(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed.append(what)

    def finish(self, label="crosscheck"):
        """Prints up to 20 failures and the summary line; returns the exit status."""
        print("\n".join("FAIL: " + f for f in self.failed[:20]))
        print(f"{label}: {self.passed} passed, {len(self.failed)} failed")
        return 0 if not self.failed else 1


def run(*args, timeout=600):
    """Runs tomostore with arguments, capturing text output."""
    return subprocess.run([TOMO, *args], capture_output=True, text=True, timeout=timeout)
