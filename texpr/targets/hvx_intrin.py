"""Public path of the HVX tensor intrinsics (README, notebook 06); they live in hexagon/intrin.py."""
from .hexagon.intrin import (check_requant_params, depthwise3x3_u8, dot_product_int8,
                             requantize_expr, requantize_u8)

__all__ = ["check_requant_params", "depthwise3x3_u8", "dot_product_int8", "requantize_expr",
           "requantize_u8"]
