"""The `pol` command."""
import sys


def main(argv=None) -> int:
    print("pol: not ready", file=sys.stderr)
    return 2
