#!/usr/bin/env python3
"""Regenerates every committed fixture: runs each tests/reference/fixtures_*.py.

Usage (Debian: apt-get install python3-torch): /usr/bin/python3 tests/reference/make_fixtures.py
"""
import glob, os, runpy, sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
for path in sorted(glob.glob(os.path.join(here, "fixtures_*.py"))):
    print(f"== {os.path.basename(path)}")
    runpy.run_path(path, run_name="__main__")
