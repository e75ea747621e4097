"""Kernel speed ratios in one process: Cython twin vs pure twin vs references.

    .venv/bin/python bench/kernel_ratios.py [--quick]

Prints, per workload and size, the time per call of each contender and the ratios the
project tracks (targets at 64 KiB): mask cython >= 50x pure and >= websockets.speedups;
UTF-8 cython >= bytes.decode (ASCII and multi-byte); parsing 64-byte frames >= 20x pure.
The workloads are also used by bench/test_kernels.py (pytest-benchmark).
"""
from __future__ import annotations

import os
import sys
import timeit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))  # the tests' twins and hand-made frames, as fuzz/ uses them

import rawframes  # noqa: E402
import twins  # noqa: E402

KEY = b"\x37\xfa\x21\x3d"
SIZES = [16, 1024, 64 * 1024, 1024 * 1024]


def frame(opcode: int, payload: bytes, key: bytes | None = None) -> bytes:
    """A hand-built frame (FIN set), masked with ``key`` if given."""
    return rawframes.frame(opcode, payload, mask=key is not None, key=key)


def ascii_text(size: int) -> bytes:
    return (b"The quick brown fox jumps over the lazy dog. " * (size // 45 + 1))[:size]


def multibyte_text(size: int) -> bytes:
    """Greek + CJK + ASCII mix (2- and 3-byte characters), cut on a character boundary.

    No 4-byte characters: they make ``bytes.decode`` build a UCS-4 string, which would
    flatter the validator."""
    unit = "Καλημέρα κόσμε, 你好世界！ ok ".encode()
    data = (unit * (size // len(unit) + 1))[:size]
    while True:
        try:
            data.decode("utf-8")
            return data
        except UnicodeDecodeError:
            data = data[:-1]


def parse_stream(frame_size: int, total: int, masked: bool) -> bytes:
    """Binary frames of ``frame_size`` payload bytes, about ``total`` bytes in all."""
    one = frame(2, os.urandom(frame_size), KEY if masked else None)
    return one * max(1, total // len(one))


def workloads(size: int) -> dict:
    """name -> {contender: zero-argument callable} for one size."""
    cy = twins.get("cython")
    py = twins.get("python")
    data = os.urandom(size)
    asc = ascii_text(size)
    multi = multibyte_text(size)
    out: dict = {}

    out["mask"] = {"cython": lambda: cy.mask.apply_mask(data, KEY),
                   "python": lambda: py.mask.apply_mask(data, KEY)}
    try:
        from websockets.speedups import apply_mask as ws_mask
        out["mask"]["websockets"] = lambda: ws_mask(data, KEY)
    except ImportError:
        pass
    for name, text in (("utf8-ascii", asc), ("utf8-multibyte", multi)):
        out[name] = {"cython": lambda t=text: cy.utf8.validate(t),
                     "python": lambda t=text: py.utf8.validate(t),
                     "bytes.decode": lambda t=text: t.decode("utf-8")}
    for masked in (False, True):
        suffix = "masked" if masked else "unmasked"
        stream64 = parse_stream(64, size, masked)
        big = parse_stream(size, size, masked)
        for label, stream in ((f"parse-64B-frames-{suffix}", stream64),
                              (f"parse-1-frame-{suffix}", big)):
            out[label] = {
                impl_name: (lambda ns=ns, s=stream, c=not masked:
                            ns.parser.Parser(client=c, max_size=None).feed(s))
                for impl_name, ns in (("cython", cy), ("python", py))
            }
    out["build"] = {"cython": lambda: cy.builder.encode_frame(2, data),
                    "python": lambda: py.builder.encode_frame(2, data)}
    out["build-masked"] = {"cython": lambda: cy.builder.encode_frame(2, data, mask=True),
                           "python": lambda: py.builder.encode_frame(2, data, mask=True)}
    return out


def best_time(fn, budget: float = 0.2, repeat: int = 5) -> float:
    """Best seconds per call over ``repeat`` runs of about ``budget`` / ``repeat`` seconds."""
    number = 1
    while True:
        t = timeit.timeit(fn, number=number)
        if t > budget / repeat / 4 or number > 1 << 22:
            break
        number *= 4
    number = max(1, int(number * (budget / repeat) / max(t, 1e-9)))
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main() -> None:
    quick = "--quick" in sys.argv
    budget = 0.05 if quick else 0.3
    rows = []
    for size in SIZES:
        for name, contenders in workloads(size).items():
            times = {k: best_time(f, budget) for k, f in contenders.items()}
            rows.append((name, size, times))
    print(f"{'workload':28s} {'size':>8s} {'cython':>11s} {'python':>11s} {'ref':>11s}"
          f" {'py/cy':>8s} {'ref/cy':>7s}")
    for name, size, times in rows:
        cy_t, py_t = times["cython"], times["python"]
        ref_name = next((k for k in times if k not in ("cython", "python")), None)
        ref_t = times.get(ref_name) if ref_name else None
        fmt = lambda t: f"{t * 1e6:9.2f}us" if t is not None else " " * 11  # noqa: E731
        ratio_ref = f"{ref_t / cy_t:7.2f}" if ref_t else " " * 7
        print(f"{name:28s} {size:8d} {fmt(cy_t)} {fmt(py_t)} {fmt(ref_t)} {py_t / cy_t:8.1f}"
              f" {ratio_ref}" + (f"  (ref: {ref_name})" if ref_name else ""))


if __name__ == "__main__":
    main()
