/* Background processes' records: see include/ipc/bgproc.h. */
#include "ipc/bgproc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/json.h"
#include "core/utf8.h"

/* proc.json holds a command of at most the API's 100000 bytes, escaped. */
#define RECORD_MAX (1u << 20)
/* Reads of a ring its writer laps meanwhile, before the reader gives up on its text. */
#define RING_TRIES 4

static bool hex_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[n] == '\0';
}

bool bgproc_tag_ok(const char *tag)
{
	return tag != NULL && strlen(tag) == BGPROC_TAG_LEN && hex_ok(tag, BGPROC_TAG_LEN);
}

bool bgproc_id_ok(const char *id)
{
	return id != NULL && strncmp(id, "proc_", 5) == 0 && strlen(id) == BGPROC_ID_LEN &&
	       hex_ok(id + 5, BGPROC_ID_LEN - 5);
}

void bgproc_dir_name(const char *tag, char out[32])
{
	snprintf(out, 32, "procs-%s", tag);
}

void bgproc_output_append(int fd, uint64_t *total, const char *data, size_t n)
{
	while (n > 0) {
		size_t at = (size_t)(*total % BGPROC_OUTPUT_MAX);
		size_t piece = n < BGPROC_OUTPUT_MAX - at ? n : BGPROC_OUTPUT_MAX - at;
		ssize_t w = pwrite(fd, data, piece, (off_t)(BGPROC_HEADER + at));
		if (w <= 0)
			return;
		*total += (uint64_t)w;
		data += w;
		n -= (size_t)w;
		/* the count after the bytes: a reader never counts what is not there yet */
		if (pwrite(fd, total, sizeof(*total), 0) != (ssize_t)sizeof(*total))
			return;
	}
}

/* key of doc into out: a number, or null when doc has none (false: a number is
 * required, or doc's is something else). */
static bool put_number(cJSON *out, const cJSON *doc, const char *key, bool required)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);
	if (v == NULL && !required) {
		cJSON_AddNullToObject(out, key);
		return true;
	}
	if (!cJSON_IsNumber(v))
		return false;
	cJSON_AddNumberToObject(out, key, v->valuedouble);
	return true;
}

static bool state_ok(const char *s)
{
	return s != NULL && (strcmp(s, "running") == 0 || strcmp(s, "exited") == 0 || strcmp(s, "killed") == 0);
}

/* id's proc.json, checked, as the fields a client gets. */
static cJSON *record(const struct tree *t, const char *id, struct ad_err *why)
{
	char rel[64];
	snprintf(rel, sizeof(rel), "%s/%s", id, BGPROC_RECORD);
	_cleanup_free_ char *text = NULL;
	size_t len;
	if (tree_read_file(t, rel, rel, RECORD_MAX, &text, &len, why) < 0) {
		if (why->errnum == ENOENT)
			ad_err_code(why, ENOENT, "no background process %s", id);
		return NULL;
	}
	_cleanup_cjson_ cJSON *doc = cJSON_ParseWithLength(text, len);
	const char *command = json_str(doc, "command"), *state = json_str(doc, "state");
	cJSON *out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "id", id);
	bool ok = put_number(out, doc, "pid", true) && command != NULL && state_ok(state);
	if (ok) {
		cJSON_AddStringToObject(out, "command", command);
		cJSON_AddStringToObject(out, "state", state);
	}
	ok = ok && put_number(out, doc, "exit_status", false) && put_number(out, doc, "signal", false) &&
	     put_number(out, doc, "started", true) && put_number(out, doc, "ended", false);
	if (!ok) {
		cJSON_Delete(out);
		ad_err_set(why, 0, "the record of background process %s is damaged", id);
		return NULL;
	}
	return out;
}

/* The ring's text into out: the bytes of [lo, hi) of the stream, from ring (n bytes
 * read from its data). */
static int ring_text(const char *ring, size_t n, uint64_t lo, uint64_t hi, bool running, cJSON *out,
		     struct ad_err *why)
{
	size_t len = (size_t)(hi - lo), at = (size_t)(lo % BGPROC_OUTPUT_MAX);
	size_t first = len < BGPROC_OUTPUT_MAX - at ? len : BGPROC_OUTPUT_MAX - at;
	if (at + first > n || len - first > n)
		return ad_err_set(why, 0, "the output is shorter than its count");
	_cleanup_free_ char *raw = malloc(len + 1);
	_cleanup_free_ char *text = malloc(3 * len + 1);
	if (raw == NULL || text == NULL)
		return ad_err_set(why, ENOMEM, "output");
	memcpy(raw, ring + at, first);
	memcpy(raw + first, ring, len - first);
	size_t skip = 0;
	/* cut: what begins in the middle of a character is not a character */
	while (lo > 0 && skip < 3 && skip < len && ((unsigned char)raw[skip] & 0xc0) == 0x80)
		skip++;
	size_t kept;
	utf8_to_text(raw + skip, len - skip, !running, text, &kept);
	cJSON_AddStringToObject(out, "output", text);
	cJSON_AddBoolToObject(out, "output_truncated", lo > 0);
	cJSON_AddNumberToObject(out, "output_bytes", (double)hi);
	return 0;
}

/* id's output: the ring read between two reads of its count; the bytes the writer
 * may have overwritten meanwhile are left out. */
static int output(const struct tree *t, const char *id, bool running, cJSON *out, struct ad_err *why)
{
	char rel[64];
	snprintf(rel, sizeof(rel), "%s/%s", id, BGPROC_OUTPUT);
	_cleanup_close_ int fd = tree_open(t, rel, rel, O_RDONLY | O_NOCTTY | O_NONBLOCK, why);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return fd < 0 ? -1 : ad_err_set(why, 0, "\"%s\" is not a regular file", rel);
	_cleanup_free_ char *ring = malloc(BGPROC_OUTPUT_MAX);
	if (ring == NULL)
		return ad_err_set(why, ENOMEM, "output");
	uint64_t before = 0, after = 0, lo = 0;
	ssize_t n = 0;
	for (int i = 0; i < RING_TRIES; i++) {
		if (pread(fd, &before, sizeof(before), 0) != (ssize_t)sizeof(before))
			before = 0;
		if ((n = pread(fd, ring, BGPROC_OUTPUT_MAX, BGPROC_HEADER)) < 0)
			return ad_err_words(why, "\"%s\"", rel);
		if (pread(fd, &after, sizeof(after), 0) != (ssize_t)sizeof(after) || after < before)
			return ad_err_set(why, 0, "the output of %s is damaged", id);
		lo = after > BGPROC_OUTPUT_MAX ? after - BGPROC_OUTPUT_MAX : 0;
		if (lo <= before)
			break;
	}
	if (lo > before)            /* lapped every time: only the count is sure */
		lo = before;
	if (ring_text(ring, (size_t)n, lo, before, running, out, why) < 0)
		return ad_err_prefix(why, "%s", id);
	return 0;
}

cJSON *bgproc_read(const struct tree *t, const char *id, bool with_output, struct ad_err *why)
{
	if (!bgproc_id_ok(id)) {
		ad_err_code(why, ENOENT, "no background process %s", id);
		return NULL;
	}
	cJSON *rec = record(t, id, why);
	if (rec == NULL || !with_output)
		return rec;
	bool running = strcmp(json_str(rec, "state"), "running") == 0;
	if (output(t, id, running, rec, why) < 0) {
		cJSON_Delete(rec);
		return NULL;
	}
	return rec;
}

static int by_start(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	double sx = cJSON_GetObjectItemCaseSensitive(x, "started")->valuedouble;
	double sy = cJSON_GetObjectItemCaseSensitive(y, "started")->valuedouble;
	if (sx != sy)
		return sx < sy ? -1 : 1;
	return strcmp(json_str(x, "id"), json_str(y, "id"));
}

cJSON *bgproc_list(const struct tree *t, struct ad_err *why)
{
	int fd = tree_open(t, ".", t->name, O_RDONLY | O_DIRECTORY, why);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	_cleanup_free_ cJSON **recs = calloc(BGPROC_LIST_MAX, sizeof(*recs));
	size_t n = 0;
	struct dirent *e;
	while (recs != NULL && n < BGPROC_LIST_MAX && (e = readdir(d)) != NULL) {
		struct ad_err skip;
		/* one being made has no record yet; one the sandbox spoilt is not shown */
		if (bgproc_id_ok(e->d_name) && (recs[n] = record(t, e->d_name, &skip)) != NULL)
			n++;
	}
	closedir(d);
	if (recs == NULL) {
		ad_err_set(why, ENOMEM, "listing");
		return NULL;
	}
	qsort(recs, n, sizeof(*recs), by_start);
	cJSON *all = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(all, recs[i]);
	return all;
}

int bgproc_answer(const struct tree *t, const cJSON *op, cJSON *end, struct ad_err *why)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(op, "proc");
	if (id != NULL && !cJSON_IsString(id))
		return ad_err_set(why, 0, "procs: \"proc\" must be a string");
	cJSON *got;
	if (t == NULL && id != NULL)
		return ad_err_code(why, ENOENT, "no background process %s", id->valuestring);
	if (t == NULL)
		got = cJSON_CreateArray();
	else if ((got = id ? bgproc_read(t, id->valuestring, true, why) : bgproc_list(t, why)) == NULL)
		return -1;
	cJSON_AddItemToObject(end, id ? "process" : "processes", got);
	return 0;
}
