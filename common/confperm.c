/*
 * The config's permissions, and the mounts that reach it (confperm.h).
 *
 * The path is resolved here, one name at a time with lstat and readlink,
 * rather than by realpath: every directory a name is looked up in must be
 * checked, the ones a symbolic link passes through included, and the
 * resolver's seccomp filter allows exactly these calls (newfstatat,
 * readlink, openat, read).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "confperm.h"

#define CONFPERM_MAX_LINKS 40
#define CONFPERM_MOUNTINFO_MAX (16u << 20)

int
confperm_init(struct confperm *cp)
{
	memset(cp, 0, sizeof(*cp));
	cp->trusted = geteuid();
	if (getcwd(cp->cwd, sizeof(cp->cwd)) == NULL) {
		/* Only a relative config path needs it; confperm_check then
		 * refuses, saying why. */
		cp->cwd[0] = '\0';
		return -1;
	}
	return 0;
}

enum confperm_why
confperm_inode(mode_t mode, uid_t uid, uid_t trusted)
{
	if (uid != 0 && uid != trusted)
		return CONFPERM_OWNER;
	if (S_ISLNK(mode))
		return CONFPERM_SAFE;
	/* In a sticky directory only an entry's owner (checked on its own)
	 * may rename or remove it. */
	if (S_ISDIR(mode) && (mode & S_ISVTX))
		return CONFPERM_SAFE;
	if (mode & S_IWOTH)
		return CONFPERM_WORLD_WRITABLE;
	if (mode & S_IWGRP)
		return CONFPERM_GROUP_WRITABLE;
	return CONFPERM_SAFE;
}

/* ---------------------------------------------------------------- mountinfo */

/* Copies the next space-separated field of *p into buf, decoding the
 * kernel's octal escapes (\040 for a space, \134 for a backslash). */
static int
next_field(const char **p, char *buf, size_t len)
{
	const char *s = *p;
	size_t n = 0;

	while (*s == ' ')
		s++;
	if (*s == '\0' || *s == '\n')
		return -1;
	for (; *s != '\0' && *s != ' ' && *s != '\n'; s++) {
		char c = *s;

		if (c == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			c = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		}
		if (n + 1 >= len)
			return -1;
		buf[n++] = c;
	}
	buf[n] = '\0';
	*p = s;
	return 0;
}

static bool
has_opt(const char *opts, const char *opt)
{
	size_t l = strlen(opt);
	const char *s = opts;

	for (;;) {
		if (strncmp(s, opt, l) == 0 && (s[l] == ',' || s[l] == '\0'))
			return true;
		s = strchr(s, ',');
		if (s == NULL)
			return false;
		s++;
	}
}

int
confperm_mount_parse(const char *line, struct confperm_mount *m)
{
	char field[PATH_MAX], opts[PATH_MAX];
	const char *p = line;
	char *end;
	int i;

	memset(m, 0, sizeof(*m));
	/* mount id, parent id */
	for (i = 0; i < 2; i++)
		if (next_field(&p, field, sizeof(field)) < 0)
			return -1;
	if (next_field(&p, field, sizeof(field)) < 0)
		return -1;
	errno = 0;
	m->major = (unsigned)strtoul(field, &end, 10);
	if (errno != 0 || end == field || *end != ':')
		return -1;
	m->minor = (unsigned)strtoul(end + 1, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	if (next_field(&p, m->root, sizeof(m->root)) < 0 ||
	    next_field(&p, m->point, sizeof(m->point)) < 0 ||
	    next_field(&p, opts, sizeof(opts)) < 0)
		return -1;
	m->rw = !has_opt(opts, "ro");
	/* Optional fields up to "-", then type, source, super options. */
	do {
		if (next_field(&p, field, sizeof(field)) < 0)
			return -1;
	} while (strcmp(field, "-") != 0);
	for (i = 0; i < 2; i++)
		if (next_field(&p, field, sizeof(field)) < 0)
			return -1;
	if (next_field(&p, opts, sizeof(opts)) < 0)
		return -1;
	if (has_opt(opts, "ro"))
		m->rw = false;
	return 0;
}

/* Is dir (absolute) path itself or one of its ancestors? */
static bool
holds(const char *dir, const char *path)
{
	size_t l = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return path[0] == '/';
	return strncmp(path, dir, l) == 0 && (path[l] == '\0' || path[l] == '/');
}

/* Calls fn for each line of text that parses; -1 when one does not. */
static int
each_mount(const char *text, int (*fn)(const struct confperm_mount *m, void *arg), void *arg)
{
	static struct confperm_mount m;
	char line[3 * PATH_MAX];
	const char *s = text, *nl;
	size_t l;
	int rc;

	while (*s != '\0') {
		nl = strchr(s, '\n');
		l = nl != NULL ? (size_t)(nl - s) : strlen(s);
		if (l >= sizeof(line))
			return -1;
		memcpy(line, s, l);
		line[l] = '\0';
		s += l + (nl != NULL);
		if (l == 0)
			continue;
		if (confperm_mount_parse(line, &m) < 0)
			return -1;
		rc = fn(&m, arg);
		if (rc != 0)
			return rc;
	}
	return 0;
}

struct find_own {
	const char *path;
	struct confperm_mount own;
	bool found;
};

/* The mount path is found through: the deepest mount point that holds it,
 * and of several on the same point the last (the one on top). */
static int
find_own_cb(const struct confperm_mount *m, void *arg)
{
	struct find_own *f = arg;

	if (holds(m->point, f->path) && (!f->found || strlen(m->point) >= strlen(f->own.point))) {
		f->own = *m;
		f->found = true;
	}
	return 0;
}

struct find_rw {
	const struct confperm_mount *own;
	const char *fspath; /* path within the file system */
	bool linked;
	bool hit, hit_holds;
	char point[PATH_MAX]; /* the hit's mount point */
};

/* A read-write mount of the same file system whose root holds fspath; or,
 * for a file with other links, any read-write mount of it. */
static int
find_rw_cb(const struct confperm_mount *m, void *arg)
{
	struct find_rw *f = arg;
	bool h;

	if (m->major != f->own->major || m->minor != f->own->minor || !m->rw || m->root[0] != '/')
		return 0;
	h = holds(m->root, f->fspath);
	if (!h && !f->linked)
		return 0;
	f->hit = true;
	f->hit_holds = h;
	snprintf(f->point, sizeof(f->point), "%s", m->point);
	return 1;
}

enum confperm_via
confperm_writable_via(const char *mountinfo, const char *path, bool linked, char *via,
                      size_t vialen)
{
	static struct find_own fo;
	static struct find_rw fr;
	static char fspath[PATH_MAX];
	const char *rest;
	int n;

	if (vialen > 0)
		via[0] = '\0';
	memset(&fo, 0, sizeof(fo));
	fo.path = path;
	if (path[0] != '/' || each_mount(mountinfo, find_own_cb, &fo) < 0 || !fo.found ||
	    fo.own.root[0] != '/')
		return CONFPERM_UNKNOWN;
	if (fo.own.rw) {
		snprintf(via, vialen, "%s", fo.own.point);
		return CONFPERM_OWN_MOUNT;
	}
	/* path within the file system: the mount's root, then what lies
	 * below its mount point. */
	rest = path + (strcmp(fo.own.point, "/") == 0 ? 0 : strlen(fo.own.point));
	n = snprintf(fspath, sizeof(fspath), "%s%s",
	             strcmp(fo.own.root, "/") == 0 && rest[0] != '\0' ? "" : fo.own.root, rest);
	if (n < 0 || (size_t)n >= sizeof(fspath))
		return CONFPERM_UNKNOWN;

	memset(&fr, 0, sizeof(fr));
	fr.own = &fo.own;
	fr.fspath = fspath;
	fr.linked = linked;
	n = each_mount(mountinfo, find_rw_cb, &fr);
	if (n < 0)
		return CONFPERM_UNKNOWN;
	if (!fr.hit)
		return CONFPERM_RO;
	snprintf(via, vialen, "%s", fr.point);
	return fr.hit_holds ? CONFPERM_OTHER_MOUNT : CONFPERM_LINKED;
}

/* ---------------------------------------------------------------- the walk */

struct walk {
	const struct confperm *cp;
	const char *conf; /* the path as given, for the message */
	char *mountinfo;  /* read when first needed */
	int mountinfo_errno;
	char *err;
	size_t errlen;
};

static char *
read_mountinfo(int *errnum)
{
	size_t cap = 16384, len = 0;
	char *buf = malloc(cap), *nb;
	ssize_t n;
	int fd;

	if (buf == NULL) {
		*errnum = errno;
		return NULL;
	}
	fd = open(CONFPERM_MOUNTINFO, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		goto fail;
	for (;;) {
		if (cap - len < 2) {
			if (cap >= CONFPERM_MOUNTINFO_MAX) {
				errno = EFBIG;
				goto fail_fd;
			}
			nb = realloc(buf, cap * 2);
			if (nb == NULL)
				goto fail_fd;
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail_fd;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;

fail_fd:
	*errnum = errno;
	close(fd);
	free(buf);
	return NULL;
fail:
	*errnum = errno;
	free(buf);
	return NULL;
}

static const char *
why_text(enum confperm_why why, uid_t uid, mode_t mode, char *buf, size_t len)
{
	switch (why) {
	case CONFPERM_OWNER:
		snprintf(buf, len, "is owned by uid %lu, not root", (unsigned long)uid);
		break;
	case CONFPERM_GROUP_WRITABLE:
		snprintf(buf, len, "is group-writable (mode %04o)", (unsigned)(mode & 07777));
		break;
	default:
		snprintf(buf, len, "is world-writable (mode %04o)", (unsigned)(mode & 07777));
		break;
	}
	return buf;
}

/* obj was found under the path; is it one the agent could change? */
static int
inspect(struct walk *w, const char *obj, const struct stat *st)
{
	enum confperm_why why = confperm_inode(st->st_mode, st->st_uid, w->cp->trusted);
	bool linked = S_ISREG(st->st_mode) && st->st_nlink > 1;
	char via[PATH_MAX], whybuf[64], how[PATH_MAX + 128], hint[PATH_MAX + 160];
	enum confperm_via v = CONFPERM_UNKNOWN;
	const char *fix;

	if (why == CONFPERM_SAFE)
		return 0;
	if (w->mountinfo == NULL && w->mountinfo_errno == 0)
		w->mountinfo = read_mountinfo(&w->mountinfo_errno);
	if (w->mountinfo != NULL)
		v = confperm_writable_via(w->mountinfo, obj, linked, via, sizeof(via));
	switch (v) {
	case CONFPERM_RO:
		return 0;
	case CONFPERM_OWN_MOUNT:
		snprintf(how, sizeof(how), "and its mount (%s) is read-write", via);
		break;
	case CONFPERM_OTHER_MOUNT:
		snprintf(how, sizeof(how), "and the read-write mount at %s reaches it", via);
		break;
	case CONFPERM_LINKED:
		snprintf(how, sizeof(how),
		         "has %lu hard links, and its file system is mounted read-write at %s",
		         (unsigned long)st->st_nlink, via);
		break;
	default:
		if (w->mountinfo == NULL)
			snprintf(how, sizeof(how),
			         "and %s cannot be read (%s) to tell whether it is read-only",
			         CONFPERM_MOUNTINFO, strerror(w->mountinfo_errno));
		else
			snprintf(how, sizeof(how), "and %s does not tell whether it is read-only",
			         CONFPERM_MOUNTINFO);
		break;
	}
	fix = why == CONFPERM_OWNER ? "chown root" : "chmod go-w";
	switch (v) {
	case CONFPERM_OWN_MOUNT:
		snprintf(hint, sizeof(hint), "%s %s, or mount the config directory read-only", fix,
		         obj);
		break;
	case CONFPERM_OTHER_MOUNT:
		snprintf(
		    hint, sizeof(hint),
		    "keep the config directory outside the work tree (e.g. ~/.config/namegate), "
		    "so that only its read-only mount reaches it, or %s %s",
		    fix, obj);
		break;
	case CONFPERM_LINKED:
		snprintf(hint, sizeof(hint), "remove its other hard links, or %s %s", fix, obj);
		break;
	default:
		snprintf(hint, sizeof(hint), "%s %s", fix, obj);
		break;
	}
	snprintf(w->err, w->errlen, "%s: refused, the agent could change it: %s %s, %s; fix: %s",
	         w->conf, obj, why_text(why, st->st_uid, st->st_mode, whybuf, sizeof(whybuf)), how,
	         hint);
	return -1;
}

/* Copies the next name of *p (slashes skipped) into name; 0 at the end. */
static int
next_name(const char **p, char *name, size_t len)
{
	const char *s = *p;
	size_t l;

	while (*s == '/')
		s++;
	l = strcspn(s, "/");
	if (l == 0)
		return 0;
	if (l >= len)
		return -1;
	memcpy(name, s, l);
	name[l] = '\0';
	*p = s + l;
	return 1;
}

int
confperm_check(const struct confperm *cp, const char *path, char *err, size_t errlen)
{
	static char cur[PATH_MAX], todo[PATH_MAX], tmp[PATH_MAX], target[PATH_MAX];
	struct walk w = {.cp = cp, .conf = path, .err = err, .errlen = errlen};
	char name[NAME_MAX + 1];
	const char *p;
	struct stat st;
	int links = 0, rc = -1, r, n;
	ssize_t tl;

	if (errlen > 0)
		err[0] = '\0';
	if (path[0] != '/' && cp->cwd[0] == '\0') {
		snprintf(err, errlen,
		         "%s: the working directory is unknown; give the config's absolute path",
		         path);
		return -1;
	}
	n = path[0] == '/' ? snprintf(todo, sizeof(todo), "%s", path)
	                   : snprintf(todo, sizeof(todo), "%s/%s", cp->cwd, path);
	if (n < 0 || (size_t)n >= sizeof(todo)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	strcpy(cur, "/");
	if (lstat(cur, &st) == -1) {
		snprintf(err, errlen, "%s: cannot stat /: %s", path, strerror(errno));
		return -1;
	}
	if (inspect(&w, cur, &st) < 0)
		goto out;
	p = todo;
	while ((r = next_name(&p, name, sizeof(name))) != 0) {
		if (r < 0) {
			snprintf(err, errlen, "%s: a name on the path is too long", path);
			goto out;
		}
		if (strcmp(name, ".") == 0)
			continue;
		if (strcmp(name, "..") == 0) {
			/* cur has no links in it: its parent was checked. */
			char *slash = strrchr(cur, '/');

			if (slash == cur)
				cur[1] = '\0';
			else
				*slash = '\0';
			continue;
		}
		n = snprintf(tmp, sizeof(tmp), "%s%s%s", cur, strcmp(cur, "/") == 0 ? "" : "/",
		             name);
		if (n < 0 || (size_t)n >= sizeof(tmp)) {
			snprintf(err, errlen, "%s: path too long", path);
			goto out;
		}
		if (lstat(tmp, &st) == -1) {
			snprintf(err, errlen, "%s: cannot stat %s: %s", path, tmp, strerror(errno));
			goto out;
		}
		if (inspect(&w, tmp, &st) < 0)
			goto out;
		if (!S_ISLNK(st.st_mode)) {
			strcpy(cur, tmp);
			continue;
		}
		if (++links > CONFPERM_MAX_LINKS) {
			snprintf(err, errlen, "%s: too many symbolic links", path);
			goto out;
		}
		tl = readlink(tmp, target, sizeof(target) - 1);
		if (tl == -1) {
			snprintf(err, errlen, "%s: cannot read the link %s: %s", path, tmp,
			         strerror(errno));
			goto out;
		}
		target[tl] = '\0';
		/* The rest of the path now follows the link's target. */
		n = snprintf(tmp, sizeof(tmp), "%s/%s", target, p);
		if (n < 0 || (size_t)n >= sizeof(tmp)) {
			snprintf(err, errlen, "%s: path too long", path);
			goto out;
		}
		strcpy(todo, tmp);
		p = todo;
		if (target[0] == '/')
			strcpy(cur, "/");
	}
	if (lstat(cur, &st) == -1) {
		snprintf(err, errlen, "%s: cannot stat %s: %s", path, cur, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: %s is not a regular file", path, cur);
		goto out;
	}
	rc = 0;
out:
	free(w.mountinfo);
	return rc;
}
