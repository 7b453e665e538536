"""python -m texpr.export --report DIR [--platform host|aarch64|hexagon]: the code size of an
exported bundle (each kernel, the runtime, the weights), built for speed and for size, and the
size classes of each kernel (kernels built for a target with `-size-classes=off`: one)."""
import argparse
import sys

from ..errors import TexprError
from .size_report import format_report, size_classes, size_report


def main(argv=None):
    """The command line (see the module docstring).

    Example::

        python -m texpr.export --report out/resnet --platform aarch64
    """
    ap = argparse.ArgumentParser(prog="python -m texpr.export", description=__doc__)
    ap.add_argument("--report", metavar="DIR", required=True,
                    help="a directory written by texpr.export.export_library")
    ap.add_argument("--platform", default="host", choices=["host", "aarch64", "hexagon"])
    args = ap.parse_args(argv)
    try:
        rows = size_report(args.report, args.platform)
    except TexprError as e:
        print(f"python -m texpr.export: {e}", file=sys.stderr)
        return 2
    print(format_report(rows, size_classes(args.report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
