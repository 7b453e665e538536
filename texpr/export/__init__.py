"""texpr.export: a built kernel or a compiled topi.graph as a self-contained C library (TVM's
export_library, smaller): kernel sources, one header with the C API, a static executor with
one arena planned at export, the weights (a blob or a C array), texpr's thread pool, and a
Makefile for the host, AArch64 and Hexagon. `python -m texpr.export --report DIR` prints the
code size of each part."""
from ..errors import ExportError
from .bundle import Bundle, export_library
from .size_report import size_report

__all__ = ["export_library", "Bundle", "ExportError", "size_report"]
