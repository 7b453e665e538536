"""Reverse-mode automatic differentiation of compute graphs (TVM's te.gradient).

derivative.py: the derivative of a scalar expression with respect to one leaf (a tensor load
or a variable); index_solve.py: the inputs' index relation inverted (which output points read
an input element); adjoint.py: the adjoint tensors, op by op from the output back.
"""
from .adjoint import gradient

__all__ = ["gradient"]
