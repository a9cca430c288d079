/* Unit tests for background processes' records (include/ipc/bgproc.h): the output ring
 * as the keeper writes it and a reader gets it back (cut, wrapped, UTF-8 safe), and
 * records the sandbox spoilt. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/json.h"
#include "core/utf8.h"
#include "ipc/bgproc.h"

#define ID "proc_0123456789abcdef"

struct fixture {
	char dir[64];
	struct tree t;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/agentd-bgproc-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->t = (struct tree){ .top = open(f->dir, O_PATH | O_DIRECTORY), .name = "the background processes" };
	assert_true(f->t.top >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	close(f->t.top);
	free(f);
	return 0;
}

static void put(const struct fixture *f, const char *id, const char *name, const char *text)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/%s", f->dir, id);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/%s/%s", f->dir, id, name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* A record of state, and a ring of what parts hold (appended one after the other). */
static void proc(const struct fixture *f, const char *id, const char *state, double started,
		 const char *const *parts, const size_t *lens)
{
	char rec[256];
	snprintf(rec, sizeof(rec), "{\"id\":\"%s\",\"pid\":7,\"command\":\"x\",\"started\":%g,\"state\":\"%s\"%s}", id,
		 started, state, strcmp(state, "running") ? ",\"exit_status\":0,\"ended\":9" : "");
	put(f, id, BGPROC_RECORD, rec);
	put(f, id, BGPROC_OUTPUT, "");
	char path[160];
	snprintf(path, sizeof(path), "%s/%s/%s", f->dir, id, BGPROC_OUTPUT);
	int fd = open(path, O_RDWR);
	uint64_t total = 0;
	for (size_t i = 0; parts != NULL && parts[i] != NULL; i++)
		bgproc_output_append(fd, &total, parts[i], lens[i]);
	close(fd);
}

static cJSON *read_ok(const struct fixture *f, const char *id)
{
	struct ad_err why;
	cJSON *p = bgproc_read(&f->t, id, true, &why);
	if (p == NULL)
		fail_msg("%s", why.msg);
	return p;
}

static void output_comes_back_whole(void **state)
{
	struct fixture *f = *state;
	const char *parts[] = { "hello ", "w\xc3\xb6rld\n", "ab\xe6", NULL };
	const size_t lens[] = { 6, 7, 3 };
	proc(f, ID, "running", 5, parts, lens);
	cJSON *p = read_ok(f, ID);
	/* running: a character still being written is not shown yet */
	assert_string_equal(json_str(p, "output"), "hello w\xc3\xb6rld\nab");
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(p, "output_truncated")));
	assert_int_equal(cJSON_GetObjectItem(p, "output_bytes")->valueint, 16);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(p, "ended")));
	assert_int_equal(cJSON_GetObjectItem(p, "pid")->valueint, 7);
	cJSON_Delete(p);
	proc(f, ID, "exited", 5, parts, lens);
	p = read_ok(f, ID);      /* ended: it never will be */
	assert_string_equal(json_str(p, "output"), "hello w\xc3\xb6rld\nab\xef\xbf\xbd");
	assert_int_equal(cJSON_GetObjectItem(p, "exit_status")->valueint, 0);
	cJSON_Delete(p);
}

static void a_wrapped_ring_keeps_the_tail_from_a_whole_character(void **state)
{
	struct fixture *f = *state;
	/* 3-byte characters, 1 byte of ASCII first: the cut falls inside one */
	size_t n = BGPROC_OUTPUT_MAX + 4096 * 3 + 1;
	char *big = malloc(n + 1);
	big[0] = 'a';
	for (size_t i = 1; i + 3 <= n; i += 3)
		memcpy(big + i, "\xe6\x97\xa5", 3);
	memcpy(big + n - 4, "END\n", 4);
	const char *parts[] = { big, big + 70000, NULL };
	const size_t lens[] = { 70000, n - 70000 };
	proc(f, ID, "exited", 5, parts, lens);
	cJSON *p = read_ok(f, ID);
	const char *out = json_str(p, "output");
	size_t len = strlen(out);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(p, "output_truncated")));
	assert_int_equal((size_t)cJSON_GetObjectItem(p, "output_bytes")->valuedouble, n);
	assert_true(len <= BGPROC_OUTPUT_MAX && len >= BGPROC_OUTPUT_MAX - 2);
	assert_true(utf8_valid(out, len, NULL));
	assert_memory_equal(out, "\xe6\x97\xa5", 3);
	assert_string_equal(out + len - 4, "END\n");
	assert_null(strstr(out, "\xef\xbf\xbd"));
	cJSON_Delete(p);
	free(big);
}

static void spoilt_records_are_refused_or_left_out(void **state)
{
	struct fixture *f = *state;
	proc(f, "proc_00000000000000aa", "exited", 30, NULL, NULL);
	proc(f, "proc_00000000000000bb", "running", 10, NULL, NULL);
	put(f, "proc_00000000000000cc", BGPROC_RECORD, "{\"pid\":\"seven\",\"command\":\"x\",\"started\":1,\"state\":\"running\"}");
	put(f, "proc_00000000000000dd", BGPROC_RECORD, "{\"pid\":1,\"command\":\"x\",\"started\":1,\"state\":\"dancing\"}");
	put(f, "proc_00000000000000ee", BGPROC_RECORD, "not json");
	put(f, "not-a-proc", BGPROC_RECORD, "{}");
	struct ad_err why;
	assert_null(bgproc_read(&f->t, "proc_00000000000000cc", false, &why));
	assert_non_null(strstr(why.msg, "damaged"));
	assert_null(bgproc_read(&f->t, "proc_0000000000000099", false, &why));
	assert_int_equal(why.errnum, ENOENT);
	assert_null(bgproc_read(&f->t, "../etc", false, &why));
	assert_int_equal(why.errnum, ENOENT);
	/* a FIFO for the output: refused at once, not waited on */
	char path[160];
	snprintf(path, sizeof(path), "%s/proc_00000000000000bb/%s", f->dir, BGPROC_OUTPUT);
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_null(bgproc_read(&f->t, "proc_00000000000000bb", true, &why));
	/* the list: the sound ones, oldest first */
	cJSON *all = bgproc_list(&f->t, &why);
	assert_non_null(all);
	assert_int_equal(cJSON_GetArraySize(all), 2);
	assert_string_equal(json_str(cJSON_GetArrayItem(all, 0), "id"), "proc_00000000000000bb");
	assert_string_equal(json_str(cJSON_GetArrayItem(all, 1), "id"), "proc_00000000000000aa");
	cJSON_Delete(all);
}

static void names_and_no_folder(void **state)
{
	(void)state;
	assert_true(bgproc_id_ok(ID));
	assert_false(bgproc_id_ok("proc_0123456789ABCDEF"));
	assert_false(bgproc_id_ok("proc_0123"));
	assert_false(bgproc_id_ok("proc_0123456789abcdef0"));
	assert_true(bgproc_tag_ok("0123456789abcdef"));
	assert_false(bgproc_tag_ok("../../../etc/xx"));
	cJSON *op = cJSON_Parse("{\"op\":\"procs\"}"), *end = cJSON_CreateObject();
	struct ad_err why;
	assert_int_equal(bgproc_answer(NULL, op, end, &why), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(end, "processes")), 0);
	cJSON_AddStringToObject(op, "proc", ID);
	assert_int_equal(bgproc_answer(NULL, op, end, &why), -1);
	assert_int_equal(why.errnum, ENOENT);
	cJSON_Delete(op);
	cJSON_Delete(end);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(output_comes_back_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(a_wrapped_ring_keeps_the_tail_from_a_whole_character, setup, teardown),
		cmocka_unit_test_setup_teardown(spoilt_records_are_refused_or_left_out, setup, teardown),
		cmocka_unit_test(names_and_no_folder),
	};
	return cmocka_run_group_tests_name("bgproc", tests, NULL, NULL);
}
