/*
 * Giving up root for good (privdrop.c): after it the process runs as
 * [resolver] user with no capability, no_new_privs set, and cannot regain
 * root. Exits the process when any step fails: never run half-dropped.
 */
#ifndef NAMEGATE_PRIVDROP_H
#define NAMEGATE_PRIVDROP_H

#include "conf.h"

void privdrop(const struct conf *c);

#endif
