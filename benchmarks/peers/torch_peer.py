#!/usr/bin/env python3
"""PyTorch peer of the comparison runner: prints one JSON object name -> median ms.

Usage: /usr/bin/python3 benchmarks/peers/torch_peer.py [names...] [--threads 2]

Cases come from every module benchmarks/peers/cases_*.py, each defining
CASES = {name: setup} where setup() returns the zero-argument function to time.
OMP_WAIT_POLICY=PASSIVE is set before torch is imported: without it torch's OpenMP threads
spin against OpenBLAS's and the peer runs several times slower than it can.
"""
import os
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import glob, importlib.util, json, statistics, sys, time

import torch


def load_cases():
    cases = {}
    here = os.path.dirname(os.path.abspath(__file__))
    for path in sorted(glob.glob(os.path.join(here, "cases_*.py"))):
        spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        cases.update(mod.CASES)
    return cases


def median_ms(fn, warmup_s=2.0, measure_s=1.5, min_runs=15):
    t_end = time.perf_counter() + warmup_s
    i = 0
    while i < 10 or time.perf_counter() < t_end:
        fn(); i += 1
    times = []
    t_end = time.perf_counter() + measure_s
    while len(times) < min_runs or (time.perf_counter() < t_end and len(times) < 2000):
        t0 = time.perf_counter(); fn(); times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main(argv):
    threads = 2
    if "--threads" in argv:
        i = argv.index("--threads"); threads = int(argv[i + 1]); del argv[i:i + 2]
    torch.set_num_threads(threads)
    cases = load_cases()
    names = argv or list(cases)
    unknown = [n for n in names if n not in cases]
    if unknown:
        sys.exit(f"unknown case(s): {unknown}; known: {list(cases)}")
    out = {}
    for n in names:
        fn = cases[n]()
        out[n] = round(median_ms(fn), 4)
        print(f"{n}: {out[n]} ms", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
