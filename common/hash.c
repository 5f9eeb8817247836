/* The seed of common/hash.h. */
#include "hash.h"

#include <errno.h>
#include <sys/random.h>

int
hash_seed(uint64_t *seed)
{
	uint8_t *p = (uint8_t *)seed;
	size_t got = 0;

	/* Blocks only until the kernel's pool is initialised, once, at boot. */
	while (got < sizeof(*seed)) {
		ssize_t n = getrandom(p + got, sizeof(*seed) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}
