"""Runs a benchmark's single measurement for several checkouts in turns.

A benchmark that compares versions of the code (trainer_speed.py, example_gen_speed.py)
measures once per process, with `--once`, and this runs it round after round, each round
taking the checkouts in turns, so that a shared machine's load falls on each alike. Each
process runs the benchmark file of this checkout with the measured checkout's code first on
the path, from that checkout's folder.
"""
import argparse
import os
import subprocess
import sys
from typing import Callable, Dict, List

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--checkout', action='append',
                        help='A checkout whose code to time (repeatable; default: this one).')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--once', action='store_true', help=argparse.SUPPRESS)


def run(script: str, once_args: List[str], args: argparse.Namespace,
        show: Callable[[str, str], None]) -> Dict[str, List[str]]:
    """{checkout: the last stdout line of each of its rounds}; `show(checkout, line)` is
    called after each round. A failed round prints its stderr's end and exits."""
    checkouts = [os.path.abspath(c) for c in args.checkout or [CHECKOUT]]
    lines = {checkout: [] for checkout in checkouts}
    for _ in range(args.rounds):
        for checkout in checkouts:
            env = dict(os.environ, TF_USE_LEGACY_KERAS='1', PYTHONPATH=os.pathsep.join(
                [checkout, CHECKOUT, os.environ.get('PYTHONPATH', '')]))
            result = subprocess.run(
                [sys.executable, os.path.abspath(script), '--once', *once_args],
                cwd=checkout, env=env, capture_output=True, text=True)
            if result.returncode:
                sys.stderr.write(result.stderr[-3000:])
                raise SystemExit(result.returncode)
            lines[checkout].append(result.stdout.strip().splitlines()[-1])
            show(checkout, lines[checkout][-1])
    return lines
