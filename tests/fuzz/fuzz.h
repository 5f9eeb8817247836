/*
 * Shared by the libFuzzer targets: a config loaded from text (through a
 * memfd, so conf_load reads it like any file), and a check that aborts with
 * a message, so that a broken invariant is a crash the fuzzer keeps.
 */
#ifndef NAMEGATE_FUZZ_H
#define NAMEGATE_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A memfd holding len bytes of text; its path is /proc/self/fd/N. Returns
 * the fd, or -1. */
int fuzz_memfd(const void *text, size_t len, char *path, size_t pathlen);
/* Loads text as sandbox.ini into *c; aborts if that fails (the fixed
 * configs of the targets must load). */
void fuzz_conf(const char *text, struct conf *c);

#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                         \
	} while (0)

_Noreturn void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
