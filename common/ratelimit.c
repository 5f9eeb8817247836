/* Rate limits for provokable log lines, with a once-a-second summary. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "ratelimit.h"

void
ratelimit_init(struct ratelimit *rl, unsigned per_second)
{
	memset(rl, 0, sizeof(*rl));
	rl->per_second = per_second;
}

/*
 * The keys seen in the current interval: open addressing over twice as
 * many slots as keys, so a probe ends soon at a free slot. A slot is in use
 * when its generation is the interval's, so a new interval empties the
 * table at once. Keys are kept whole and compared whole: a hash collision
 * costs a probe, never a line.
 */
#define KEY_SLOTS (2 * RATELIMIT_KEYS) /* power of two */

struct ratelimit_keys {
	uint64_t seed;
	uint64_t start_ms;
	uint32_t gen;
	size_t n, key_max;
	uint32_t slot_gen[KEY_SLOTS];
	uint16_t slot_len[KEY_SLOTS];
	uint8_t data[]; /* KEY_SLOTS * key_max */
};

int
ratelimit_track(struct ratelimit *rl, size_t key_max)
{
	struct ratelimit_keys *k;

	ratelimit_untrack(rl);
	if (key_max == 0 || key_max > UINT16_MAX)
		return -1;
	k = calloc(1, sizeof(*k) + KEY_SLOTS * key_max);
	if (k == NULL) {
		log_warn("ratelimit: allocating the key table");
		return -1;
	}
	if (getrandom(&k->seed, sizeof(k->seed), 0) != (ssize_t)sizeof(k->seed))
		log_warn("ratelimit: getrandom for the key table seed");
	k->key_max = key_max;
	k->gen = 1;
	rl->keys = k;
	return 0;
}

void
ratelimit_untrack(struct ratelimit *rl)
{
	free(rl->keys);
	rl->keys = NULL;
}

/* Seeded FNV-1a, as the gate's address map. */
static size_t
key_slot(const struct ratelimit_keys *k, const uint8_t *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ k->seed;

	for (size_t i = 0; i < len; i++)
		h = (h ^ key[i]) * 0x100000001b3ULL;
	h ^= h >> 29;
	return (size_t)(h & (KEY_SLOTS - 1));
}

/* true when key is new in this interval and now recorded; false when it
 * was seen, or the interval already holds RATELIMIT_KEYS keys. */
static bool
key_first(struct ratelimit_keys *k, const uint8_t *key, size_t len, uint64_t now_ms)
{
	size_t i;

	if (now_ms < k->start_ms || now_ms - k->start_ms >= RATELIMIT_KEY_INTERVAL_MS) {
		k->start_ms = now_ms;
		k->n = 0;
		if (++k->gen == 0) {
			memset(k->slot_gen, 0, sizeof(k->slot_gen));
			k->gen = 1;
		}
	}
	if (len > k->key_max)
		len = k->key_max;
	for (i = key_slot(k, key, len);; i = (i + 1) & (KEY_SLOTS - 1)) {
		uint8_t *d = k->data + i * k->key_max;

		if (k->slot_gen[i] != k->gen)
			break;
		if (k->slot_len[i] == len && memcmp(d, key, len) == 0)
			return false;
	}
	if (k->n >= RATELIMIT_KEYS)
		return false;
	k->slot_gen[i] = k->gen;
	k->slot_len[i] = (uint16_t)len;
	memcpy(k->data + i * k->key_max, key, len);
	k->n++;
	return true;
}

static bool
take(struct ratelimit *rl, const void *key, size_t len, uint64_t now_ms)
{
	bool first = rl->keys != NULL && key != NULL && key_first(rl->keys, key, len, now_ms);

	if (now_ms < rl->window_start_ms || now_ms - rl->window_start_ms >= 1000) {
		rl->window_start_ms = now_ms;
		rl->used = 0;
	}
	if (rl->used < rl->per_second) {
		rl->used++;
		return true;
	}
	if (first)
		return true;
	rl->suppressed++;
	return false;
}

bool
ratelimit_take(struct ratelimit *rl, uint64_t now_ms)
{
	return take(rl, NULL, 0, now_ms);
}

bool
ratelimit_take_key(struct ratelimit *rl, const void *key, size_t len, uint64_t now_ms)
{
	return take(rl, key, len, now_ms);
}

unsigned
ratelimit_flush(struct ratelimit *rl)
{
	unsigned n = rl->suppressed;

	rl->suppressed = 0;
	return n;
}

static void
log_summary(struct ratelimit *rl)
{
	unsigned n = ratelimit_flush(rl);
	struct log_line *l;

	if (n == 0)
		return;
	l = log_begin(LOGL_WARN, rl->summary_event);
	if (rl->what != NULL)
		logline_str(l, "of", rl->what);
	logline_int(l, "count", n);
	log_end(l);
}

static void
summary_cb(struct loop_timer *t, void *arg)
{
	log_summary(arg);
}

void
ratelimit_attach(struct ratelimit *rl, struct loop *lp, const char *summary_event, const char *what)
{
	rl->lp = lp;
	rl->summary_event = summary_event;
	rl->what = what;
	loop_timer_init(&rl->timer, summary_cb, rl);
}

bool
ratelimit_ok(struct ratelimit *rl)
{
	return ratelimit_ok_key(rl, NULL, 0);
}

bool
ratelimit_ok_key(struct ratelimit *rl, const void *key, size_t len)
{
	if (take(rl, key, len, loop_now_ms()))
		return true;
	if (rl->lp != NULL && !loop_timer_armed(&rl->timer))
		loop_timer_set(rl->lp, &rl->timer, 1000);
	return false;
}

void
ratelimit_detach(struct ratelimit *rl)
{
	ratelimit_untrack(rl);
	if (rl->lp == NULL)
		return;
	loop_timer_cancel(rl->lp, &rl->timer);
	log_summary(rl);
	rl->lp = NULL;
}
