"""Operators backed by external libraries (TVM's tvm.contrib), as extern ops."""
