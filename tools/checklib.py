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


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(*args, timeout=600):
    """Runs tomostore with arguments, capturing text output."""
    return subprocess.run([TOMO, *args], capture_output=True, text=True, timeout=timeout)


def wedge_weight(shape, lo=-60.0, hi=60.0, beam="z", transition=0.0, half=False):
    """The missing-wedge weight of a (z, y, x) volume's spectrum (numpy's fftn layout, or rfftn's when
    `half`): the tilt angle of a component is θ = atan(−k_beam / k_across) in (−90°, 90°] (90° when
    k_across = 0); 0 where θ is inside [lo, hi], 1 outside, a raised cosine `transition` degrees wide
    centred on each edge (angles wrap every 180°); the origin counts as measured. Frequencies in
    cycles/voxel. TomoStore's MissingWedge.wedgeWeight, written again independently."""
    import numpy as np
    kz = np.fft.fftfreq(shape[0])[:, None, None]
    ky = np.fft.fftfreq(shape[1])[None, :, None]
    kx = (np.fft.rfftfreq(shape[2]) if half else np.fft.fftfreq(shape[2]))[None, None, :]
    kz, ky, kx = np.broadcast_arrays(kz, ky, kx)
    along, across = (kz, kx) if beam == "z" else (kx, kz)
    theta = np.degrees(np.arctan2(-along, across))
    theta = np.where(theta > 90, theta - 180, np.where(theta <= -90, theta + 180, theta))
    inside = (theta >= lo) & (theta <= hi)
    d = np.where(inside, -np.minimum(theta - lo, hi - theta), np.minimum(np.mod(lo - theta, 180), np.mod(theta - hi, 180)))
    if transition == 0:
        w = (d > 0).astype(float)
    else:
        h = transition / 2
        w = np.where(d <= -h, 0.0, np.where(d >= h, 1.0, 0.5 - 0.5 * np.cos(np.pi * (np.clip(d, -h, h) + h) / transition)))
    return np.where((along == 0) & (across == 0), 0.0, w)
