/*
 * Can someone other than root change the config? A config the agent can
 * edit is no firewall (mode = audit, or any name it likes), so both daemons
 * refuse one at start and on every reload.
 *
 * The agent's uid is not known here, so every uid but root and the one the
 * daemon was started as counts as a possible agent. The file, and every
 * directory on its way from / (symbolic links followed), is checked: one
 * that belongs to such a uid (its owner can chmod it), or that is group- or
 * world-writable (a sticky directory like /tmp excepted: only an entry's
 * owner can replace it there), could be changed, unless no read-write
 * mount reaches it. That is the last word of /proc/self/mountinfo: its own
 * mount, and every other mount of the same file system whose root holds it
 * (the same directory bind-mounted twice, `:ro` at /etc/namegate and
 * read-write inside `-v $PWD:/work`).
 */
#ifndef NAMEGATE_CONFPERM_H
#define NAMEGATE_CONFPERM_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CONFPERM_MOUNTINFO "/proc/self/mountinfo"

struct confperm {
	char cwd[PATH_MAX]; /* a relative config path is taken from here */
	uid_t trusted;      /* besides root: the uid the daemon was started as */
};

/* Remembers the working directory and the effective uid. Call it at start,
 * before a privilege drop or the seccomp filter (getcwd). 0 or -1. */
int confperm_init(struct confperm *cp);

/* 0 when only root and cp->trusted can change path; else -1 and
 * err = "path: why, and how to fix it". */
int confperm_check(const struct confperm *cp, const char *path, char *err, size_t errlen);

/* The pure parts, for the unit test. */

enum confperm_why {
	CONFPERM_SAFE,
	CONFPERM_OWNER, /* owned by another uid than root and trusted */
	CONFPERM_GROUP_WRITABLE,
	CONFPERM_WORLD_WRITABLE,
};

/* Who but root and trusted could change an inode of this mode and owner?
 * A symbolic link only by its owner (its mode means nothing). */
enum confperm_why confperm_inode(mode_t mode, uid_t uid, uid_t trusted);

struct confperm_mount {
	unsigned major, minor;
	char root[PATH_MAX];  /* the mount's root within its file system */
	char point[PATH_MAX]; /* where it is mounted */
	bool rw;              /* neither the mount nor its file system is read-only */
};

/* One line of /proc/self/mountinfo (octal escapes decoded). 0 or -1. */
int confperm_mount_parse(const char *line, struct confperm_mount *m);

enum confperm_via {
	CONFPERM_RO,          /* no read-write mount reaches it */
	CONFPERM_OWN_MOUNT,   /* the mount it was found through is read-write */
	CONFPERM_OTHER_MOUNT, /* another read-write mount holds it */
	CONFPERM_LINKED,      /* a file with other hard links, and a read-write mount of its fs */
	CONFPERM_UNKNOWN,     /* its mount cannot be told from mountinfo */
};

/* Can path (absolute, no symbolic links, no "." or "..") be written through
 * some mount in mountinfo (the text of /proc/self/mountinfo)? linked: it
 * is a file with more than one hard link, which any read-write mount of its
 * file system might reach. via is the mount point that does. */
enum confperm_via confperm_writable_via(const char *mountinfo, const char *path, bool linked,
                                        char *via, size_t vialen);

#endif
