/*
 * Rate limits for log lines the agent can provoke at will (a flood of
 * denied flows or off-list queries must not fill the disk): at most
 * per_second lines of a kind in each one-second window. The rest are
 * counted and, with a loop attached, summarised once a second as
 * "event=<summary> [of=<what>] count=N".
 *
 * A limiter that tracks keys (ratelimit_track) also writes, over the
 * budget, the first line of each key (a flow's destination, a query's
 * name) in every RATELIMIT_KEY_INTERVAL_MS, for up to RATELIMIT_KEYS
 * distinct keys an interval: a flood of one destination cannot hide the
 * one other destination that mattered, and a flood of distinct ones still
 * writes at most that many lines more. The keys are held in a table with a
 * random seed, so the agent cannot aim them at one bucket.
 */
#ifndef NAMEGATE_RATELIMIT_H
#define NAMEGATE_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "loop.h"

#define RATELIMIT_KEY_INTERVAL_MS 60000
#define RATELIMIT_KEYS 128 /* distinct keys per interval, at most */

struct ratelimit_keys; /* the keys seen this interval (ratelimit.c) */

struct ratelimit {
	uint64_t window_start_ms;
	unsigned per_second;
	unsigned used;
	unsigned suppressed;
	struct ratelimit_keys *keys; /* NULL unless tracked */
	/* the summary, when attached to a loop */
	struct loop *lp;
	struct loop_timer timer;
	const char *summary_event;
	const char *what;
};

/* Pure part: take() says whether to log a line at now_ms, counting it as
 * suppressed if not; flush() returns that count and resets it. */
void ratelimit_init(struct ratelimit *rl, unsigned per_second);
bool ratelimit_take(struct ratelimit *rl, uint64_t now_ms);
unsigned ratelimit_flush(struct ratelimit *rl);

/* Tracks keys of up to key_max bytes (longer ones count by their first
 * key_max bytes), hashed with a random seed; call it after ratelimit_init,
 * which would forget the table. -1 when out of memory (the limiter then
 * works without). take_key() is take() that also says yes to the first
 * line of a key in an interval, as above. untrack() frees the table
 * (detach does too). */
int ratelimit_track(struct ratelimit *rl, size_t key_max);
bool ratelimit_take_key(struct ratelimit *rl, const void *key, size_t len, uint64_t now_ms);
void ratelimit_untrack(struct ratelimit *rl);

/* With a loop: ratelimit_ok() takes at the loop's clock and arms the
 * one-second summary when it suppresses; ratelimit_detach() logs what is
 * still counted and disarms. what may be NULL. */
void ratelimit_attach(struct ratelimit *rl, struct loop *lp, const char *summary_event,
                      const char *what);
bool ratelimit_ok(struct ratelimit *rl);
bool ratelimit_ok_key(struct ratelimit *rl, const void *key, size_t len);
void ratelimit_detach(struct ratelimit *rl);

#endif
