/* The sandbox's init as a sealed memfd: see include/sandbox/init_image.h. */
#include "sandbox/init_image.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U       /* Linux 6.3: executable, whatever vm.memfd_noexec says */
#endif

#ifndef SANDBOX_INIT_ELF
#error "SANDBOX_INIT_ELF: the path of the built init (the Makefile's build/init/agentd-init)"
#endif

/* The program, built by the Makefile before this file (a prerequisite of its object). */
__asm__(".section .rodata\n"
	".balign 16\n"
	".globl sandbox_init_elf, sandbox_init_elf_end\n"
	".hidden sandbox_init_elf, sandbox_init_elf_end\n"
	"sandbox_init_elf:\n"
	".incbin \"" SANDBOX_INIT_ELF "\"\n"
	"sandbox_init_elf_end:\n"
	".previous\n");
extern const unsigned char sandbox_init_elf[], sandbox_init_elf_end[];

const unsigned char *sandbox_init_image(size_t *size)
{
	*size = (size_t)(sandbox_init_elf_end - sandbox_init_elf);
	return sandbox_init_elf;
}

static int image_fd = -1;

int sandbox_init_image_fd(struct ad_err *err)
{
	if (image_fd >= 0)
		return image_fd;
	int fd = memfd_create("agentd-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	if (fd < 0 && errno == EINVAL)     /* before Linux 6.3, every memfd may be executed */
		fd = memfd_create("agentd-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return ad_err_sys(err, "memfd_create for the sandbox's init");
	size_t size;
	const unsigned char *p = sandbox_init_image(&size);
	for (size_t off = 0; off < size;) {
		ssize_t n = write(fd, p + off, size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ad_err_sys(err, "write the sandbox's init");
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) {
		ad_err_sys(err, "seal the sandbox's init");
		close(fd);
		return -1;
	}
	image_fd = fd;
	return fd;
}
