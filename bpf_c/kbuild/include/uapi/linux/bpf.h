/* The BPF UAPI as the BCC that compiles knows it: its own copy, which its
 * helpers' declarations match (bpf_c/kbuild: see linux/kconfig.h). */
#include <bcc/bpf.h>
