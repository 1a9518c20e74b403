/* bpf_c/kbuild (see linux/kconfig.h): BPF_RINGBUF_OUTPUT sizes a ring in
 * pages of this size, the running kernel's (ctrace.bpf.Program defines
 * CT_PAGE_SIZE at the top of every program's text). */
#define PAGE_SIZE CT_PAGE_SIZE
