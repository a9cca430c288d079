/* Unit tests for the sandbox's init image (include/sandbox/init_image.h): the memfd
 * holds exactly the embedded program, is sealed so that no one can change it, is made
 * once per process, and the program refuses to run outside a sandbox. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/init_image.h"

static void memfd_holds_the_program_sealed(void **state)
{
	struct ad_err e;
	int fd = sandbox_init_image_fd(&e);
	assert_true(fd >= 0);
	assert_int_equal(sandbox_init_image_fd(&e), fd);          /* once per process */
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	int seals = fcntl(fd, F_GET_SEALS);
	int want = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
	assert_int_equal(seals & want, want);

	size_t size;
	const unsigned char *img = sandbox_init_image(&size);
	assert_true(size > 64 && size < 64 * 1024);                 /* a small program */
	assert_memory_equal(img, "\177ELF", 4);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal((size_t)st.st_size, size);
	unsigned char buf[64 * 1024];
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), (ssize_t)size);
	assert_memory_equal(buf, img, size);

	/* no write, no resize, no new seal list, through this or another description */
	assert_int_equal(pwrite(fd, "x", 1, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(fd, 0), -1);
	assert_int_equal(ftruncate(fd, (off_t)size + 4096), -1);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, 0), -1);
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int w = open(path, O_RDWR);
	if (w >= 0) {
		assert_int_equal(write(w, "x", 1), -1);
		assert_int_equal(errno, EPERM);
		close(w);
	}
}

static void program_refuses_to_run_outside_a_sandbox(void **state)
{
	struct ad_err e;
	int fd = sandbox_init_image_fd(&e);
	assert_true(fd >= 0);
	int out[2];
	assert_int_equal(pipe(out), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(out[1], 2);
		char *argv[] = { (char *)"agentd", (char *)"sandbox-init", (char *)"true", NULL };
		char *env[] = { NULL };
		execveat(fd, "", argv, env, AT_EMPTY_PATH);
		_exit(99);
	}
	close(out[1]);
	char msg[256] = "";
	ssize_t n = read(out[0], msg, sizeof(msg) - 1);
	close(out[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);                       /* not PID 1: usage */
	assert_true(n > 0 && strstr(msg, "inside a sandbox") != NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(memfd_holds_the_program_sealed),
		cmocka_unit_test(program_refuses_to_run_outside_a_sandbox),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
