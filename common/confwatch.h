/*
 * Reload triggers for the config file: SIGHUP, and changes on disk. inotify
 * watches the file's directory (so an editor replacing the file by rename is
 * seen), and a stat() poll every 2 s catches what inotify cannot see (a file
 * bind-mounted into a container and edited on the host). Several events in a
 * burst give one callback, after a short settle delay (200 ms).
 */
#ifndef NAMEGATE_CONFWATCH_H
#define NAMEGATE_CONFWATCH_H

#include "loop.h"

struct confwatch;

struct confwatch *confwatch_new(struct loop *lp, const char *path, void (*reload)(void *arg),
                                void *arg);
void confwatch_free(struct confwatch *w);

#endif
