/*
 * The seeded hash of every table whose keys an outsider may choose (names
 * the agent queries under a wildcard, addresses in the answers it makes an
 * upstream give): FNV-1a over 64 bits started from a random seed, with a
 * final fold of the high bits into the low ones that index the buckets.
 * Without the seed one could compute keys that all land in one bucket and
 * turn every lookup into a walk of the whole table (hash flooding).
 *
 *	uint64_t h = hash_init(seed);
 *	h = hash_bytes(h, key, keylen);
 *	bucket = hash_final(h) & (nbuckets - 1);
 */
#ifndef NAMEGATE_HASH_H
#define NAMEGATE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV_OFFSET 0xcbf29ce484222325ULL
#define HASH_FNV_PRIME 0x100000001b3ULL

static inline uint64_t
hash_init(uint64_t seed)
{
	return HASH_FNV_OFFSET ^ seed;
}

static inline uint64_t
hash_byte(uint64_t h, uint8_t b)
{
	return (h ^ b) * HASH_FNV_PRIME;
}

static inline uint64_t
hash_bytes(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * HASH_FNV_PRIME;
	return h;
}

static inline uint64_t
hash_final(uint64_t h)
{
	return h ^ (h >> 29);
}

/* A seed from getrandom(2). Returns 0, or -1 (errno set) when the kernel
 * cannot give one: the caller then refuses to start, since a table with a
 * guessable seed is the flood it exists to prevent. */
int hash_seed(uint64_t *seed);

#endif
