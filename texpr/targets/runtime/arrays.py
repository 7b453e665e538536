"""Call arguments from any framework, taken without a copy.

A kernel's arguments are NumPy arrays as they are; anything else with `__dlpack__` (PyTorch,
JAX, CuPy, ...) or the buffer protocol (bytearray, memoryview, array.array) becomes a NumPy
view of the same memory, so the strict checks of a NumPy argument apply to it unchanged.
Memory on a CUDA device becomes a DeviceArray (its pointer, read from the DLPack capsule),
which only the cuda target takes. Outputs a call allocates go back in the inputs' framework
(`framework_of`, `to_framework`): NumPy arrays for NumPy input, torch tensors for torch input.
"""
import ctypes
import importlib
import sys

import numpy as np

from ...errors import ArgumentError

#: DLPack device types (dlpack.h DLDeviceType)
DL_CPU, DL_CUDA, DL_CUDA_HOST, DL_CUDA_MANAGED = 1, 2, 3, 13
_DEVICE_NAMES = {1: "cpu", 2: "cuda", 3: "cuda_host", 4: "opencl", 7: "vulkan", 8: "metal",
                 10: "rocm", 13: "cuda_managed"}

EXPECTED = "a numpy.ndarray, or an array with __dlpack__ or the buffer protocol"


def as_array(x, name, device_ok=False, output=False):
    """x as an np.ndarray viewing its memory (or a DeviceArray for CUDA memory when
    device_ok); ArgumentError naming the argument when it is no array or cannot be shared.

    A torch tensor that requires grad is read as its data (a kernel's result has no autograd
    history); as an output it is refused (autograd would not see the kernel's writes), and so
    is a tensor with torch's lazy negation bit (its memory holds the values un-negated)."""
    if isinstance(x, np.ndarray):
        return x
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        x = _torch_data(x, name, output)
    if torch is not None and type(x) is torch.Tensor:
        try:
            return x.numpy()        # a view of a CPU tensor (DLPack's export: ~3 us more)
        except (RuntimeError, TypeError):
            if x.dtype == torch.bfloat16 and x.device.type == "cpu":
                try:                # NumPy has no bfloat16: ml_dtypes' view of the same bits
                    return x.view(torch.int16).numpy().view("bfloat16")
                except (RuntimeError, TypeError):
                    pass
            # CUDA, requires_grad...: told by the DLPack path
    if getattr(type(x), "__dlpack__", None) is not None:
        return _from_dlpack(x, name, device_ok)
    try:
        view = memoryview(x)
    except TypeError:
        raise ArgumentError(f"argument {name}: expected {EXPECTED}, got "
                            f"{type(x).__name__}") from None
    try:
        return np.asarray(view)
    except (TypeError, ValueError) as e:
        raise ArgumentError(f"argument {name}: its buffer (format {view.format!r}) has no NumPy "
                            f"dtype: {e}") from None


def _torch_data(x, name, output):
    """The torch tensor x as the memory a kernel may read (output: write), or ArgumentError."""
    if x.is_neg():
        raise ArgumentError(f"argument {name}: a torch tensor with its negative bit set (a lazy "
                            "negation: its memory holds the values un-negated); pass "
                            "tensor.resolve_neg()")
    if x.requires_grad:
        if output:
            raise ArgumentError(f"argument {name}: an output tensor that requires grad (autograd "
                                "would not see the kernel's writes); pass one without "
                                "requires_grad (e.g. torch.empty(...))")
        return x.detach()
    return x


def _from_dlpack(x, name, device_ok):
    try:
        kind, dev_id = (int(v) for v in x.__dlpack_device__())
    except Exception as e:      # noqa: BLE001 (a producer's own error, told with the argument)
        raise ArgumentError(f"argument {name}: {type(x).__name__}.__dlpack_device__() failed: "
                            f"{e}") from None
    if kind in (DL_CUDA, DL_CUDA_MANAGED):
        if not device_ok:
            raise ArgumentError(f"argument {name}: a {type(x).__name__} in "
                                f"{_DEVICE_NAMES[kind]}:{dev_id} memory; this kernel runs on the "
                                "host CPU: pass host memory (e.g. tensor.cpu()), or build for "
                                "target 'cuda'")
        return DeviceArray.from_dlpack(x, name)
    try:
        return np.from_dlpack(x)
    except Exception as e:      # noqa: BLE001 (BufferError, RuntimeError, TypeError by producer)
        where = _DEVICE_NAMES.get(kind, f"device type {kind}")
        raise ArgumentError(f"argument {name}: a {type(x).__name__} ({where} memory) cannot be "
                            f"shared through DLPack: {e}") from None


_FRAMEWORKS = {}       # type -> its framework module (or None)


def framework_of(x):
    """The module whose from_dlpack makes arrays of x's kind (None for NumPy and buffers)."""
    t = type(x)
    if t in _FRAMEWORKS:
        return _FRAMEWORKS[t]
    mod = None
    if not issubclass(t, np.ndarray) and getattr(t, "__dlpack__", None) is not None:
        try:
            mod = importlib.import_module(t.__module__.split(".")[0])
        except ImportError:
            mod = None
        if not callable(getattr(mod, "from_dlpack", None)):
            mod = None
    _FRAMEWORKS[t] = mod
    return mod


def to_framework(mod, a):
    """The NumPy array a as an array of framework `mod` sharing its memory (a itself: None)."""
    if mod is None:
        return a
    if mod.__name__ == "torch":
        return mod.from_numpy(a)
    return mod.from_dlpack(a)


# ----------------------------------------------------------------------------- device memory

class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


_DL_KINDS = {0: "i", 1: "u", 2: "f", 6: "b"}     # DLDataTypeCode -> NumPy kind

_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


class _Flags:
    __slots__ = ("c_contiguous", "writeable", "aligned")

    def __init__(self, c_contiguous, writeable, aligned):
        self.c_contiguous, self.writeable, self.aligned = c_contiguous, writeable, aligned


class DeviceArray:
    """An array in device memory, described by its DLPack tensor: the device pointer, shape,
    dtype and byte strides. It keeps the producer's capsule (and so the memory) alive."""

    def __init__(self, ptr, shape, dtype, strides, device, capsule=None):
        self.ptr = ptr
        self.shape = tuple(shape)
        self.ndim = len(self.shape)
        self.dtype = np.dtype(dtype)
        self.device = device                # (DLPack device type, device id)
        self._capsule = capsule
        item = self.dtype.itemsize
        self.size = int(np.prod(self.shape, dtype=np.int64))
        self.nbytes = self.size * item
        c_strides, step = [], item
        for n in reversed(self.shape):
            c_strides.append(step)
            step *= n
        c_strides = tuple(reversed(c_strides))
        self.strides = c_strides if strides is None else tuple(strides)
        contiguous = self.size == 0 or all(n == 1 or s == c for n, s, c in
                                           zip(self.shape, self.strides, c_strides))
        self.flags = _Flags(contiguous, True, ptr % item == 0)

    def __repr__(self):
        return (f"<DeviceArray {_DEVICE_NAMES.get(self.device[0], self.device[0])}:"
                f"{self.device[1]} {list(self.shape)} {self.dtype}>")

    @classmethod
    def from_dlpack(cls, x, name):
        try:
            capsule = x.__dlpack__()
        except Exception as e:      # noqa: BLE001
            raise ArgumentError(f"argument {name}: {type(x).__name__}.__dlpack__() failed: "
                                f"{e}") from None
        try:
            addr = _capsule_pointer(capsule, b"dltensor")
        except ValueError:
            raise ArgumentError(f"argument {name}: {type(x).__name__}.__dlpack__() returned no "
                                "DLPack tensor capsule") from None
        t = _DLTensor.from_address(addr)     # DLManagedTensor starts with its DLTensor
        kind = _DL_KINDS.get(t.dtype.code)
        if kind is None or t.dtype.lanes != 1:
            raise ArgumentError(f"argument {name}: DLPack dtype (code {t.dtype.code}, "
                                f"{t.dtype.bits} bits, {t.dtype.lanes} lanes) has no texpr dtype")
        dtype = np.dtype("bool") if kind == "b" else np.dtype(f"{kind}{t.dtype.bits // 8}")
        shape = [t.shape[i] for i in range(t.ndim)]
        strides = None
        if t.strides:
            strides = [t.strides[i] * dtype.itemsize for i in range(t.ndim)]
        return cls((t.data or 0) + t.byte_offset, shape, dtype, strides,
                   (t.device.device_type, t.device.device_id), capsule)


def may_overlap(a, b):
    """Whether two arguments (np.ndarray or DeviceArray) can share memory."""
    da, db = isinstance(a, DeviceArray), isinstance(b, DeviceArray)
    if not (da or db):
        return np.may_share_memory(a, b)
    if da != db or a.device != b.device or not a.nbytes or not b.nbytes:
        return False
    return a.ptr < b.ptr + b.nbytes and b.ptr < a.ptr + a.nbytes
