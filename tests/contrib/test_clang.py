"""texpr.contrib.clang.create_llvm: C/C++ source to LLVM IR text with clang."""
import shutil

import pytest

import texpr as te
from texpr.contrib import clang

needs_clang = pytest.mark.skipif(shutil.which("clang") is None,
                                 reason="clang is not installed (make's sysdeps install it)")

CPP = """
extern "C" int add_one(int x) { return x + 1; }
"""


@needs_clang
def test_cpp_source_to_ir_text_and_file(tmp_path):
    out = tmp_path / "m.ll"
    ir = clang.create_llvm(CPP, output=str(out))
    assert "define" in ir and "@add_one(" in ir          # extern "C": the name unmangled
    assert out.read_text() == ir


@needs_clang
def test_several_inputs_make_one_module(tmp_path):
    src = tmp_path / "two.c"
    src.write_text("int two(void) { return 2; }\n")
    ir = clang.create_llvm([CPP, str(src)])
    assert "@add_one(" in ir and "@two(" in ir


@needs_clang
def test_code_that_does_not_compile_says_why():
    with pytest.raises(te.BuildError, match=r"could not compile input 0(.|\n)*error:.*undeclared"):
        clang.create_llvm("int f(void) { return missing_name; }")


def test_bad_arguments():
    with pytest.raises(te.BuildError, match="'no-such-clang' not found"):
        clang.create_llvm(CPP, cc="no-such-clang")
    with pytest.raises(te.TexprError, match="inputs must be source text or a file path"):
        clang.create_llvm(42)
    with pytest.raises(te.TexprError, match="options must be a list of strings"):
        clang.create_llvm(CPP, options="-O3")
