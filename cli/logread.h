/*
 * Reading namegate's own log lines back: logfmt as common/log.c writes it
 * (by hand) and JSON lines (through json-c), into the values of the keys a
 * caller wants. Used by namegate learn and namegate status, so both read a
 * line the same way.
 */
#ifndef NAMEGATE_LOGREAD_H
#define NAMEGATE_LOGREAD_H

#include <stddef.h>

#define LOGREAD_MAX_FIELDS 16
#define LOGREAD_VALUE_MAX 4096

struct logread_fields {
	const char *key[LOGREAD_MAX_FIELDS]; /* pointers into the caller's wanted list */
	char val[LOGREAD_MAX_FIELDS][LOGREAD_VALUE_MAX];
	size_t n;
};

/* Parses line (logfmt or one JSON object, with or without its newline)
 * into fs: the first value of each key of wanted (NULL-terminated, at most
 * LOGREAD_MAX_FIELDS keys), cut at LOGREAD_VALUE_MAX - 1 bytes. Keys not
 * wanted are skipped; a line that is neither form gives no fields. */
void logread_parse(const char *line, const char *const *wanted, struct logread_fields *fs);
/* The value of key, or NULL when the line had none. */
const char *logread_field(const struct logread_fields *fs, const char *key);

#endif
