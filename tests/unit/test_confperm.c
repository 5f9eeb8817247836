/* Who could change the config: inode permissions, mountinfo, and the walk
 * over a real directory tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "confperm.h"

#define AGENT 4242

static void
test_inode(void **state)
{
	(void)state;
	assert_int_equal(confperm_inode(S_IFREG | 0644, 0, 0), CONFPERM_SAFE);
	assert_int_equal(confperm_inode(S_IFREG | 0600, 0, 0), CONFPERM_SAFE);
	assert_int_equal(confperm_inode(S_IFREG | 0644, AGENT, 0), CONFPERM_OWNER);
	/* Even read-only to its owner: the owner can chmod it. */
	assert_int_equal(confperm_inode(S_IFREG | 0444, AGENT, 0), CONFPERM_OWNER);
	assert_int_equal(confperm_inode(S_IFREG | 0664, 0, 0), CONFPERM_GROUP_WRITABLE);
	assert_int_equal(confperm_inode(S_IFREG | 0646, 0, 0), CONFPERM_WORLD_WRITABLE);
	assert_int_equal(confperm_inode(S_IFDIR | 0755, 0, 0), CONFPERM_SAFE);
	assert_int_equal(confperm_inode(S_IFDIR | 0775, 0, 0), CONFPERM_GROUP_WRITABLE);
	assert_int_equal(confperm_inode(S_IFDIR | 0777, 0, 0), CONFPERM_WORLD_WRITABLE);
	/* /tmp: an entry there can be replaced only by its own owner. */
	assert_int_equal(confperm_inode(S_IFDIR | 01777, 0, 0), CONFPERM_SAFE);
	assert_int_equal(confperm_inode(S_IFDIR | 01777, AGENT, 0), CONFPERM_OWNER);
	/* A file's sticky bit means nothing. */
	assert_int_equal(confperm_inode(S_IFREG | 01666, 0, 0), CONFPERM_WORLD_WRITABLE);
	assert_int_equal(confperm_inode(S_IFLNK | 0777, 0, 0), CONFPERM_SAFE);
	assert_int_equal(confperm_inode(S_IFLNK | 0777, AGENT, 0), CONFPERM_OWNER);
	/* The uid the daemon was started as is trusted like root. */
	assert_int_equal(confperm_inode(S_IFREG | 0644, 1000, 1000), CONFPERM_SAFE);
	assert_int_equal(confperm_inode(S_IFREG | 0644, AGENT, 1000), CONFPERM_OWNER);
}

static void
test_parse(void **state)
{
	struct confperm_mount m;

	(void)state;
	assert_int_equal(confperm_mount_parse("36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 "
	                                      "shared:7 - ext3 /dev/root rw,errors=continue",
	                                      &m),
	                 0);
	assert_int_equal(m.major, 98);
	assert_int_equal(m.minor, 0);
	assert_string_equal(m.root, "/mnt1");
	assert_string_equal(m.point, "/mnt/parent");
	assert_true(m.rw);
	assert_int_equal(confperm_mount_parse("40 1 8:1 /home/u/my\\040conf /etc/name\\134gate "
	                                      "ro,relatime - ext4 /dev/sda1 rw",
	                                      &m),
	                 0);
	assert_string_equal(m.root, "/home/u/my conf");
	assert_string_equal(m.point, "/etc/name\\gate");
	assert_false(m.rw);
	/* A read-only file system makes every mount of it read-only. */
	assert_int_equal(
	    confperm_mount_parse("41 1 8:2 / /srv rw,relatime - ext4 /dev/sda2 ro", &m), 0);
	assert_false(m.rw);
	/* "rw" options that merely start with "ro" are not read-only. */
	assert_int_equal(confperm_mount_parse("42 1 0:9 / /x rw,rootcontext=a - tmpfs t rw", &m),
	                 0);
	assert_true(m.rw);
	assert_int_equal(confperm_mount_parse("42 1 0:9 / /x rw", &m), -1);
	assert_int_equal(confperm_mount_parse("42 1 zz / /x rw - tmpfs t rw", &m), -1);
	assert_int_equal(confperm_mount_parse("", &m), -1);
}

/* A container: the image's root, /etc/resolv.conf and friends from the
 * host's disk, then the mounts of the case. */
#define CONTAINER                                                                                  \
	"600 500 0:50 / / rw,relatime master:300 - overlay overlay rw,lowerdir=/l,upperdir=/u\n"   \
	"601 600 0:51 / /proc rw,nosuid - proc proc rw\n"                                          \
	"612 600 8:1 /var/lib/docker/containers/abc/resolv.conf /etc/resolv.conf rw,relatime - "   \
	"ext4 /dev/sda1 rw\n"

static void
test_via(void **state)
{
	static const char good[] =
	    CONTAINER "610 600 8:1 /home/u/.config/namegate /etc/namegate ro,relatime - ext4 "
	              "/dev/sda1 rw\n"
	              "611 600 8:1 /home/u/proj /work rw,relatime - ext4 /dev/sda1 rw\n";
	static const char bad[] =
	    CONTAINER "610 600 8:1 /home/u/proj/namegate /etc/namegate ro,relatime - ext4 "
	              "/dev/sda1 rw\n"
	              "611 600 8:1 /home/u/proj /work rw,relatime - ext4 /dev/sda1 rw\n";
	static const char file[] =
	    CONTAINER "610 600 8:1 /home/u/proj/sandbox.ini /etc/namegate/sandbox.ini ro - ext4 "
	              "/dev/sda1 rw\n"
	              "611 600 8:1 /home/u/proj /work rw,relatime - ext4 /dev/sda1 rw\n";
	/* /home/u/proj2 is not below /home/u/proj. */
	static const char sibling[] =
	    CONTAINER "610 600 8:1 /home/u/proj2 /etc/namegate ro - ext4 /dev/sda1 rw\n"
	              "611 600 8:1 /home/u/proj /work rw - ext4 /dev/sda1 rw\n";
	/* The same directory mounted again, read-write, over the first. */
	static const char stacked[] =
	    CONTAINER "610 600 8:1 /c /etc/namegate ro - ext4 /dev/sda1 rw\n"
	              "611 610 8:1 /c /etc/namegate rw - ext4 /dev/sda1 rw\n";
	/* The whole disk, read-write, somewhere else. */
	static const char whole[] =
	    CONTAINER "610 600 8:1 /c /etc/namegate ro - ext4 /dev/sda1 rw\n"
	              "611 600 8:1 / /host rw - ext4 /dev/sda1 rw\n";
	char via[4096];

	(void)state;
	assert_int_equal(confperm_writable_via(good, "/etc/namegate", false, via, sizeof(via)),
	                 CONFPERM_RO);
	assert_int_equal(
	    confperm_writable_via(good, "/etc/namegate/sandbox.ini", false, via, sizeof(via)),
	    CONFPERM_RO);
	assert_int_equal(confperm_writable_via(bad, "/etc/namegate", false, via, sizeof(via)),
	                 CONFPERM_OTHER_MOUNT);
	assert_string_equal(via, "/work");
	assert_int_equal(
	    confperm_writable_via(bad, "/etc/namegate/sandbox.ini", false, via, sizeof(via)),
	    CONFPERM_OTHER_MOUNT);
	assert_string_equal(via, "/work");
	assert_int_equal(
	    confperm_writable_via(file, "/etc/namegate/sandbox.ini", false, via, sizeof(via)),
	    CONFPERM_OTHER_MOUNT);
	assert_int_equal(
	    confperm_writable_via(sibling, "/etc/namegate/sandbox.ini", false, via, sizeof(via)),
	    CONFPERM_RO);
	assert_int_equal(
	    confperm_writable_via(stacked, "/etc/namegate/sandbox.ini", false, via, sizeof(via)),
	    CONFPERM_OWN_MOUNT);
	assert_int_equal(
	    confperm_writable_via(whole, "/etc/namegate/sandbox.ini", false, via, sizeof(via)),
	    CONFPERM_OTHER_MOUNT);
	assert_string_equal(via, "/host");
	/* The image's own directory: the overlay root, read-write. */
	assert_int_equal(confperm_writable_via(good, "/etc", false, via, sizeof(via)),
	                 CONFPERM_OWN_MOUNT);
	assert_string_equal(via, "/");
	/* /etc/namegate2 is not below /etc/namegate. */
	assert_int_equal(confperm_writable_via(good, "/etc/namegate2/x", false, via, sizeof(via)),
	                 CONFPERM_OWN_MOUNT);
	/* A file with other hard links: any read-write mount of its disk. */
	assert_int_equal(
	    confperm_writable_via(good, "/etc/namegate/sandbox.ini", true, via, sizeof(via)),
	    CONFPERM_LINKED);
	assert_int_equal(confperm_writable_via("610 600 8:1 /c / ro - ext4 /dev/sda1 rw\n",
	                                       "/sandbox.ini", true, via, sizeof(via)),
	                 CONFPERM_RO);
	/* Nothing to go by: not known, so refused by the caller. */
	assert_int_equal(confperm_writable_via("", "/etc/namegate", false, via, sizeof(via)),
	                 CONFPERM_UNKNOWN);
	assert_int_equal(confperm_writable_via("1 0 0:4 net:[1] /ns ro - nsfs nsfs rw\n", "/ns",
	                                       false, via, sizeof(via)),
	                 CONFPERM_UNKNOWN);
	assert_int_equal(confperm_writable_via("garbage\n", "/x", false, via, sizeof(via)),
	                 CONFPERM_UNKNOWN);
}

struct tree {
	char dir[64];
	char conf[128];
	struct confperm cp;
};

static int
tree_setup(void **state)
{
	static struct tree t;
	FILE *f;

	strcpy(t.dir, "/tmp/test_confperm.XXXXXX");
	if (mkdtemp(t.dir) == NULL || chmod(t.dir, 0755) != 0)
		return -1;
	snprintf(t.conf, sizeof(t.conf), "%s/sandbox.ini", t.dir);
	f = fopen(t.conf, "w");
	if (f == NULL)
		return -1;
	fputs("[allow]\n", f);
	fclose(f);
	if (chmod(t.conf, 0644) != 0 || confperm_init(&t.cp) != 0)
		return -1;
	*state = &t;
	return 0;
}

static int
tree_teardown(void **state)
{
	struct tree *t = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	return system(cmd) == 0 ? 0 : -1;
}

static bool
tmp_is_rw(void)
{
	return access("/tmp", W_OK) == 0;
}

/* The walk: the tree is on /tmp, a read-write mount, so what its modes
 * let others change is refused. */
static void
test_walk(void **state)
{
	struct tree *t = *state;
	char err[1024], path[256], link[256];

	if (!tmp_is_rw())
		skip();
	assert_int_equal(confperm_check(&t->cp, t->conf, err, sizeof(err)), 0);

	assert_int_equal(chmod(t->conf, 0646), 0);
	assert_int_equal(confperm_check(&t->cp, t->conf, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is world-writable (mode 0646)"));
	assert_non_null(strstr(err, "chmod go-w"));
	assert_int_equal(strncmp(err, t->conf, strlen(t->conf)), 0);
	assert_int_equal(chmod(t->conf, 0644), 0);

	assert_int_equal(chmod(t->dir, 0775), 0);
	assert_int_equal(confperm_check(&t->cp, t->conf, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is group-writable (mode 0775)"));
	/* Sticky, like /tmp: only the file's owner could replace it. */
	assert_int_equal(chmod(t->dir, 01777), 0);
	assert_int_equal(confperm_check(&t->cp, t->conf, err, sizeof(err)), 0);
	assert_int_equal(chmod(t->dir, 0755), 0);

	/* A symbolic link from a writable directory: the directory holding
	 * the link could swap it. */
	snprintf(path, sizeof(path), "%s/open", t->dir);
	assert_int_equal(mkdir(path, 0777), 0);
	assert_int_equal(chmod(path, 0777), 0);
	snprintf(link, sizeof(link), "%s/open/conf.ini", t->dir);
	assert_int_equal(symlink("../sandbox.ini", link), 0);
	assert_int_equal(confperm_check(&t->cp, link, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/open is world-writable"));
	/* ... and a link in a safe directory into the safe tree is fine. */
	assert_int_equal(chmod(path, 0755), 0);
	assert_int_equal(confperm_check(&t->cp, link, err, sizeof(err)), 0);
	/* The link's target lies where it points: here, through the open
	 * directory again. */
	snprintf(link, sizeof(link), "%s/via.ini", t->dir);
	assert_int_equal(symlink("open/../sandbox.ini", link), 0);
	assert_int_equal(confperm_check(&t->cp, link, err, sizeof(err)), 0);
	assert_int_equal(chmod(path, 0777), 0);
	assert_int_equal(confperm_check(&t->cp, link, err, sizeof(err)), -1);
	assert_int_equal(chmod(path, 0755), 0);

	/* Not a file, not there, a loop. */
	assert_int_equal(confperm_check(&t->cp, t->dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not a regular file"));
	snprintf(path, sizeof(path), "%s/none.ini", t->dir);
	assert_int_equal(confperm_check(&t->cp, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	snprintf(link, sizeof(link), "%s/loop", t->dir);
	assert_int_equal(symlink("loop", link), 0);
	assert_int_equal(confperm_check(&t->cp, link, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too many symbolic links"));

	/* Another owner (as root only: it takes chown). */
	if (geteuid() == 0) {
		assert_int_equal(chown(t->conf, AGENT, AGENT), 0);
		assert_int_equal(confperm_check(&t->cp, t->conf, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "is owned by uid 4242, not root"));
		assert_non_null(strstr(err, "chown root"));
		assert_int_equal(chown(t->conf, 0, 0), 0);
		assert_int_equal(chown(t->dir, AGENT, AGENT), 0);
		assert_int_equal(confperm_check(&t->cp, t->conf, err, sizeof(err)), -1);
		assert_int_equal(chown(t->dir, 0, 0), 0);
	}
}

/* A relative path is taken from the working directory of confperm_init. */
static void
test_relative(void **state)
{
	struct tree *t = *state;
	struct confperm cp = t->cp;
	char err[1024];

	if (!tmp_is_rw())
		skip();
	snprintf(cp.cwd, sizeof(cp.cwd), "%s", t->dir);
	assert_int_equal(confperm_check(&cp, "sandbox.ini", err, sizeof(err)), 0);
	assert_int_equal(chmod(t->dir, 0777), 0);
	assert_int_equal(confperm_check(&cp, "./sandbox.ini", err, sizeof(err)), -1);
	assert_int_equal(strncmp(err, "./sandbox.ini: ", 15), 0);
	assert_int_equal(chmod(t->dir, 0755), 0);
	cp.cwd[0] = '\0';
	assert_int_equal(confperm_check(&cp, "sandbox.ini", err, sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_inode),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_via),
	    cmocka_unit_test_setup_teardown(test_walk, tree_setup, tree_teardown),
	    cmocka_unit_test_setup_teardown(test_relative, tree_setup, tree_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
