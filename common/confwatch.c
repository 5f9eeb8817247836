/*
 * Config change detection. inotify watches the directory rather than the
 * file, because editors and config managers replace files by rename, which
 * would leave a watch on the file pointing at the old inode. A stat() poll
 * backs it up for changes inotify never reports, such as a file
 * bind-mounted into a container and edited on the host. Either source only
 * (re)arms a short settle timer, so a burst of events (write, rename,
 * chmod) yields one reload of the finished file.
 *
 * A Kubernetes ConfigMap volume holds the file as a symlink into a
 * directory the kubelet swaps atomically: sandbox.ini -> ..data/sandbox.ini,
 * ..data -> ..2026_12_01_10_00_00.123, and an update renames a new ..data
 * over the old one. The file's own name then sees no event, so an event on
 * the first component of a relative symlink target counts as well.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "confwatch.h"
#include "log.h"

#define CONFWATCH_POLL_MS 2000
#define CONFWATCH_SETTLE_MS 200
#define CONFWATCH_EVENTS                                                                           \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_ATTRIB)

/* What the poll compares; missing = the file did not exist (ENOENT). */
struct filestate {
	bool missing;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
};

struct confwatch {
	struct loop *lp;
	char path[PATH_MAX];
	char base[NAME_MAX + 1];
	int ifd; /* -1 when inotify is unavailable; the poll still works */
	struct filestate last;
	struct loop_timer poll;
	struct loop_timer settle;
	void (*reload)(void *arg);
	void *arg;
};

static void
read_state(const char *path, struct filestate *fs)
{
	struct stat st;

	memset(fs, 0, sizeof(*fs));
	if (stat(path, &st) == -1) {
		/* Anything but "gone" (EACCES, EIO) is reported, and treated as
		 * gone too so that recovery is noticed as a change. */
		if (errno != ENOENT)
			log_warn("confwatch: stat %s", path);
		fs->missing = true;
		return;
	}
	fs->dev = st.st_dev;
	fs->ino = st.st_ino;
	fs->size = st.st_size;
	fs->mtim = st.st_mtim;
}

static bool
state_equal(const struct filestate *a, const struct filestate *b)
{
	if (a->missing || b->missing)
		return a->missing == b->missing;
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec;
}

static void
settle_cb(struct loop_timer *t, void *arg)
{
	struct confwatch *w = arg;

	/* Remember what we are about to load, so that the poll does not
	 * report the same change a second time. */
	read_state(w->path, &w->last);
	w->reload(w->arg);
}

static void
changed(struct confwatch *w)
{
	loop_timer_set(w->lp, &w->settle, CONFWATCH_SETTLE_MS);
}

static void
poll_cb(struct loop_timer *t, void *arg)
{
	struct confwatch *w = arg;
	struct filestate now;

	read_state(w->path, &now);
	if (!state_equal(&now, &w->last)) {
		w->last = now;
		changed(w);
	}
	loop_timer_set(w->lp, &w->poll, CONFWATCH_POLL_MS);
}

/* The first component of the file's symlink target when that is a relative
 * path with a directory in it (..data for ..data/sandbox.ini), else "". */
static void
link_head(const char *path, char *head, size_t len)
{
	char target[PATH_MAX];
	ssize_t n;
	char *slash;

	head[0] = '\0';
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return;
	target[n] = '\0';
	slash = strchr(target, '/');
	if (target[0] == '/' || slash == NULL || (size_t)(slash - target) >= len)
		return;
	memcpy(head, target, (size_t)(slash - target));
	head[slash - target] = '\0';
}

static void
inotify_cb(int fd, uint32_t events, void *arg)
{
	struct confwatch *w = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	char head[NAME_MAX + 1];
	bool hit = false;
	ssize_t n;
	size_t off;

	link_head(w->path, head, sizeof(head));

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0) {
			log_warn("confwatch: read inotify");
			break;
		}
		for (off = 0; off + sizeof(*ev) <= (size_t)n; off += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)(const void *)(buf + off);
			if (off + sizeof(*ev) + ev->len > (size_t)n)
				break;
			/* The queue overflowed: events were lost, so assume ours
			 * was among them. */
			if (ev->mask & IN_Q_OVERFLOW)
				hit = true;
			if (ev->len > 0 && memchr(ev->name, '\0', ev->len) != NULL &&
			    (strcmp(ev->name, w->base) == 0 ||
			     (head[0] != '\0' && strcmp(ev->name, head) == 0)))
				hit = true;
		}
	}
	if (hit)
		changed(w);
}

struct confwatch *
confwatch_new(struct loop *lp, const char *path, void (*reload)(void *arg), void *arg)
{
	char dirbuf[PATH_MAX], basebuf[PATH_MAX];
	struct confwatch *w;

	if (strlen(path) >= sizeof(dirbuf)) {
		log_warnx("confwatch: path too long: %s", path);
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		log_warn("confwatch: calloc");
		return NULL;
	}
	w->lp = lp;
	w->reload = reload;
	w->arg = arg;
	strcpy(w->path, path);
	/* dirname and basename may modify their argument: give them copies. */
	strcpy(dirbuf, path);
	strcpy(basebuf, path);
	snprintf(w->base, sizeof(w->base), "%s", basename(basebuf));
	loop_timer_init(&w->poll, poll_cb, w);
	loop_timer_init(&w->settle, settle_cb, w);
	read_state(w->path, &w->last);

	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->ifd == -1) {
		log_warn("confwatch: inotify_init1, polling %s only", path);
	} else if (inotify_add_watch(w->ifd, dirname(dirbuf), CONFWATCH_EVENTS) == -1) {
		log_warn("confwatch: inotify_add_watch %s, polling only", dirbuf);
		close(w->ifd);
		w->ifd = -1;
	} else if (loop_add(lp, w->ifd, EPOLLIN, inotify_cb, w) == -1) {
		close(w->ifd);
		w->ifd = -1;
	}
	loop_timer_set(lp, &w->poll, CONFWATCH_POLL_MS);
	return w;
}

void
confwatch_free(struct confwatch *w)
{
	if (w == NULL)
		return;
	loop_timer_cancel(w->lp, &w->poll);
	loop_timer_cancel(w->lp, &w->settle);
	if (w->ifd != -1) {
		loop_del(w->lp, w->ifd);
		close(w->ifd);
	}
	free(w);
}
