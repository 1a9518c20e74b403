/* ctrace's kernel tree for BCC (bpf_c/kbuild, BCC_KERNEL_SOURCE): only what
 * BCC's own headers and ctrace's C take from a kernel's headers, so that a
 * compile parses about 90 lines instead of a distribution's headers
 * (about 1.4 MB, parsed twice: 0.05-0.19 s of every tool's start).  Every
 * struct offset comes from the running kernel's BTF (CT_BTF_OFFSET), so
 * nothing here describes a kernel.  BCC finds the tree by this file and
 * includes it before anything else: the configuration its helpers demand. */
#ifndef _CT_KBUILD_KCONFIG_H
#define _CT_KBUILD_KCONFIG_H

#define CONFIG_BPF_SYSCALL 1

#define __always_inline inline __attribute__((always_inline))
#define noinline __attribute__((noinline))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define barrier() __asm__ __volatile__("" : : : "memory")

#endif
