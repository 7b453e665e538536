"""The Hexagon (HVX) harness: a freestanding static program run under qemu-hexagon.

There is no Hexagon C library on the machines, so the harness brings what the generic harness
main (harness.py) and the kernel need:

- `_start` (reads argc/argv from the stack, calls the harness main, exits with its status),
- Linux system calls through `trap0(#1)` (number in r6, arguments in r0..r5): openat, read,
  write, close, exit, mmap2 (the allocator: page aligned, so 128-byte HVX alignment holds;
  every block is padded by HVX_PAD bytes so a full-vector load that starts inside a buffer
  never leaves the mapping),
- `memcpy`/`memset`/`memmove`, which the compiler may call for copies it generates,
- integer division, which Hexagon has no instruction for: the `__hexagon_{u,}{div,mod}{si,di}3`
  routines the compiler calls (shift-and-subtract, exact for every operand the C semantics allow).

The kernel itself needs only <stdint.h> and the HVX headers; float division and libm
functions are refused at emit time by the HVX emitter.
"""
from ..runtime.harness import HarnessSpec

HVX_PAD = 256

#: the inline system call, shared by the kernel's allocator (hvx_emitter) and this layer
SYSCALL_C = r"""#ifndef TEXPR_HEXAGON_SYSCALL
#define TEXPR_HEXAGON_SYSCALL
/* Linux system call on Hexagon: trap0(#1), number in r6, arguments in r0..r5 */
static inline long texpr_syscall6(long n, long a, long b, long c, long d, long e, long f) {
  register long r0 __asm__("r0") = a; register long r1 __asm__("r1") = b;
  register long r2 __asm__("r2") = c; register long r3 __asm__("r3") = d;
  register long r4 __asm__("r4") = e; register long r5 __asm__("r5") = f;
  register long r6 __asm__("r6") = n;
  __asm__ volatile("trap0(#1)" : "+r"(r0) : "r"(r1), "r"(r2), "r"(r3), "r"(r4), "r"(r5), "r"(r6)
                   : "memory");
  return r0;
}
/* anonymous pages (mmap2 = 222), padded: vector loads that start in a block stay mapped */
static inline void* texpr_hvx_alloc(long n) {
  long len = ((n > 0 ? n : 1) + 127) / 128 * 128 + """ + str(HVX_PAD) + r""";
  long p = texpr_syscall6(222, 0, len, 3 /* READ|WRITE */, 0x22 /* PRIVATE|ANONYMOUS */, -1, 0);
  return (p < 0 && p > -4096) ? (void*)0 : (void*)p;
}
static inline void texpr_hvx_free(void* p, long n) {
  long len = ((n > 0 ? n : 1) + 127) / 128 * 128 + """ + str(HVX_PAD) + r""";
  if (p) texpr_syscall6(215, (long)p, len, 0, 0, 0, 0);   /* munmap */
}
#endif
"""

IO_PRIMS = SYSCALL_C + r"""
/* ---- texpr harness I/O layer: freestanding Hexagon Linux (no libc) ---- */
static int texpr_h_open_read(const char* path) {
  return (int)texpr_syscall6(56, -100 /* AT_FDCWD */, (long)path, 0, 0, 0, 0);
}
static int texpr_h_open_write(const char* path) {
  return (int)texpr_syscall6(56, -100, (long)path, 01 | 0100 | 01000 /* WRONLY|CREAT|TRUNC */,
                             0644, 0, 0);
}
static long texpr_h_read(int fd, void* p, long n) { return texpr_syscall6(63, fd, (long)p, n, 0, 0, 0); }
static long texpr_h_write(int fd, const void* p, long n) {
  return texpr_syscall6(64, fd, (long)p, n, 0, 0, 0);
}
static void texpr_h_close(int fd) { texpr_syscall6(57, fd, 0, 0, 0, 0, 0); }
static void* texpr_h_alloc(long n) { return texpr_hvx_alloc(n); }
static void texpr_h_exit(int code) {
  for (;;) texpr_syscall6(93, code, 0, 0, 0, 0, 0);
}
static void texpr_h_fail(const char* msg) {
  long n = 0;
  while (msg[n]) ++n;
  texpr_h_write(2, "texpr harness: ", 15);
  texpr_h_write(2, msg, n);
  texpr_h_write(2, "\n", 1);
  texpr_h_exit(2);
}

/* what the compiler may call: byte copies and integer division (no instruction for it) */
#undef memcpy
#undef memset
void* memcpy(void* d, const void* s, unsigned n) {
  volatile char* dp = (volatile char*)d; const volatile char* sp = (const volatile char*)s;
  while (n--) *dp++ = *sp++;
  return d;
}
void* memmove(void* d, const void* s, unsigned n) {
  volatile char* dp = (volatile char*)d; const volatile char* sp = (const volatile char*)s;
  if (dp < sp) { while (n--) *dp++ = *sp++; }
  else { dp += n; sp += n; while (n--) *--dp = *--sp; }
  return d;
}
void* memset(void* d, int c, unsigned n) {
  volatile char* dp = (volatile char*)d;
  while (n--) *dp++ = (char)c;
  return d;
}
static unsigned long long texpr_udivmod64(unsigned long long a, unsigned long long b,
                                          unsigned long long* rem) {
  unsigned long long q = 0, r = 0;
  if (b == 0) { *rem = 0; return 0; }
  for (int i = 63; i >= 0; --i) {
    r = (r << 1) | ((a >> i) & 1);
    if (r >= b) { r -= b; q |= 1ULL << i; }
  }
  *rem = r;
  return q;
}
unsigned long long __hexagon_udivdi3(unsigned long long a, unsigned long long b) {
  unsigned long long r; return texpr_udivmod64(a, b, &r);
}
unsigned long long __hexagon_umoddi3(unsigned long long a, unsigned long long b) {
  unsigned long long r; texpr_udivmod64(a, b, &r); return r;
}
long long __hexagon_divdi3(long long a, long long b) {
  unsigned long long r, ua = a < 0 ? 0ULL - (unsigned long long)a : (unsigned long long)a;
  unsigned long long ub = b < 0 ? 0ULL - (unsigned long long)b : (unsigned long long)b;
  unsigned long long q = texpr_udivmod64(ua, ub, &r);
  return (long long)(((a < 0) != (b < 0)) ? 0ULL - q : q);
}
long long __hexagon_moddi3(long long a, long long b) {
  unsigned long long r, ua = a < 0 ? 0ULL - (unsigned long long)a : (unsigned long long)a;
  unsigned long long ub = b < 0 ? 0ULL - (unsigned long long)b : (unsigned long long)b;
  texpr_udivmod64(ua, ub, &r);
  return (long long)(a < 0 ? 0ULL - r : r);
}
unsigned __hexagon_udivsi3(unsigned a, unsigned b) {
  return (unsigned)__hexagon_udivdi3(a, b);
}
unsigned __hexagon_umodsi3(unsigned a, unsigned b) { return (unsigned)__hexagon_umoddi3(a, b); }
int __hexagon_divsi3(int a, int b) { return (int)__hexagon_divdi3(a, b); }
int __hexagon_modsi3(int a, int b) { return (int)__hexagon_moddi3(a, b); }
"""

IO_ENTRY = r"""
/* program entry: the stack holds argc, then argv[] */
__attribute__((used)) void texpr_h_cstart(long* sp) {
  texpr_h_exit(texpr_harness_main((int)sp[0], (char**)(sp + 1)));
}
__asm__(".text\n.globl _start\n.type _start,@function\n_start:\n"
        "  { r0 = r29 }\n  { r29 = and(r29, #-128) }\n  { call texpr_h_cstart }\n");
"""

HVX_MARCH = ["--target=hexagon", "-mv67", "-mhvx", "-mhvx-length=128b"]
# -hexagon-vector-combine=false: clang 14's "Hexagon Vector Combine" pass crashes on some loops
# its own auto-vectorizer made from texpr's scalar code (a 3x5 int16 matmul tile drawn by the
# hypothesis schedule test); texpr's HVX code is explicit intrinsics and does not need it.
HVX_CFLAGS = HVX_MARCH + ["-O2", "-ffreestanding", "-fwrapv", "-fno-strict-aliasing",
                          "-Wno-unknown-pragmas", "-mllvm", "-hexagon-vector-combine=false"]

#: Hexagon v67 + HVX 128B, freestanding static program (clang + lld), run with qemu-hexagon.
HEXAGON_LINUX = HarnessSpec(
    "hexagon-linux", "clang", HVX_CFLAGS + ["-nostdlib", "-fuse-ld=lld", "-static"],
    ["qemu-hexagon"],
    "apt-get install clang lld qemu-user (QEMU 7.2 emulates Hexagon v67 with HVX)",
    io_prims=IO_PRIMS, io_entry=IO_ENTRY, check_libc=False, libs=())
