"""atheris entry point: ``python fuzz/fuzz.py TARGET [libFuzzer options] [corpus dirs]``.

TARGET is one of fuzz/targets.py's TARGETS (frames, handshake, upgrade, deflate). wsfast's Python
modules are instrumented for coverage; the Cython kernels run as built (they are checked by
comparing them with the instrumented pure twin). ``fuzz/run.py`` drives a bounded run.
"""
import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

with atheris.instrument_imports(include=["wsfast", "targets"]):
    import targets

    targets.twins()  # imports the kernel modules (the pure twin's get instrumented)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in targets.TARGETS:
        sys.exit(f"usage: fuzz.py {{{','.join(targets.TARGETS)}}} [libFuzzer args]")
    name = sys.argv.pop(1)
    print(f"fuzz.py: target {name}, twins {[t.IMPLEMENTATION for t in targets.twins()]}",
          flush=True)
    atheris.Setup(sys.argv, targets.TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
