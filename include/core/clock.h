/* The monotonic clock, for durations, deadlines and uptime (never for dates). */
#ifndef AGENTD_CORE_CLOCK_H
#define AGENTD_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t clock_mono_ms(void)
{
	return clock_mono_ns() / 1000000u;
}

/* Milliseconds since t0_ns, to the microsecond: what a reply says a step took. */
static inline double clock_ms_since(uint64_t t0_ns)
{
	return (double)((clock_mono_ns() - t0_ns + 500u) / 1000u) / 1000.0;
}

#endif
