/* What an idle supervisor gives back. Ten thousand idle sessions are ten thousand
 * supervisors forked from the spawner: every page one wrote while it built its sandbox
 * (its heap, the deep stack of the build) stays its own copy unless it is given back.
 * A second after the loop last had work, the supervisor trims its heap and the stack
 * below its loop; then again after each stretch of work (a turn: libcurl, TLS). */
#include "supervisor_int.h"

#include "core/memtrim.h"

/* Quiet this long after work before memory is given back: a turn's events come closer. */
#define TRIM_AFTER_MS 1000

int sup_idle_wait(const struct supervisor *s, int wait_ms)
{
	if (!s->trimmed && (wait_ms < 0 || wait_ms > TRIM_AFTER_MS))
		return TRIM_AFTER_MS;
	return wait_ms;
}

int sup_idle_after(struct supervisor *s, int polled)
{
	if (polled > 0) {
		s->trimmed = false;
	} else if (polled == 0 && !s->trimmed) {
		memtrim_give_back();
		s->trimmed = true;
	}
	return polled;
}
