/* bpf_c/kbuild (see linux/kconfig.h): the version BCC stamps on a program
 * is read by the kernel for kprobes only; ctrace attaches none. */
#define KERNEL_VERSION(a, b, c) (((a) << 16) + ((b) << 8) + ((c) > 255 ? 255 : (c)))
#define LINUX_VERSION_CODE KERNEL_VERSION(5, 15, 0)
