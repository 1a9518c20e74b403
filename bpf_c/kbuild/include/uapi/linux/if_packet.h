/* bpf_c/kbuild (see linux/kconfig.h): BCC includes this; nothing it or
 * ctrace uses is declared in it. */
