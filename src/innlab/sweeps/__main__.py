"""``python -m innlab.sweeps CONFIG ...``: the ``innlab sweep`` command on its own."""

from __future__ import annotations

import argparse
import sys

from innlab.sweeps.cli import add_sweep_commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m innlab.sweeps")
    add_sweep_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sweep", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
