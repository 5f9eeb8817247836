/*
 * Building and checking the resolver ↔ gate messages. The gate holds
 * CAP_NET_ADMIN and the resolver parses hostile bytes, so the gate treats
 * every message as possibly forged by a compromised resolver: exact length
 * first, then type and version, then every field, padding included. A
 * message with any byte out of place is refused rather than interpreted.
 */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "gateipc.h"

/* Every byte of buf[from..len) is zero. */
static bool
all_zero(const void *buf, size_t from, size_t len)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = from; i < len; i++) {
		if (p[i] != 0)
			return false;
	}
	return true;
}

int
gateipc_allow_init(struct gateipc_allow *m, uint32_t id, const char *name, uint32_t ttl)
{
	char norm[NAME_MAX_LEN + 1];
	const char *err;

	memset(m, 0, sizeof(*m));
	m->type = GATEIPC_ALLOW;
	m->version = GATEIPC_VERSION;
	m->id = id;
	m->ttl = ttl;
	/* The name must already be in normal form: the gate compares it as
	 * is, and a sender that normalizes here would hide its own bugs. */
	if (name_normalize(name, norm, &err) == -1 || strcmp(norm, name) != 0)
		return -1;
	memcpy(m->name, norm, strlen(norm));
	return 0;
}

int
gateipc_allow_add(struct gateipc_allow *m, int family, const uint8_t *ip)
{
	struct gateipc_addr *a;

	if (m->naddrs >= GATEIPC_MAX_ADDRS)
		return -1;
	if (family != AF_INET && family != AF_INET6)
		return -1;
	a = &m->addrs[m->naddrs];
	memset(a, 0, sizeof(*a));
	a->family = (uint8_t)family;
	memcpy(a->ip, ip, family == AF_INET ? 4 : 16);
	m->naddrs++;
	return 0;
}

void
gateipc_ack_init(struct gateipc_ack *m, uint32_t id, enum gateipc_status status, uint32_t removals)
{
	memset(m, 0, sizeof(*m));
	m->type = GATEIPC_ACK;
	m->version = GATEIPC_VERSION;
	m->id = id;
	m->status = (uint32_t)status;
	m->removals = removals;
}

static int
check_addr(const struct gateipc_addr *a, const char **err)
{
	if (!all_zero(a->pad, 0, sizeof(a->pad))) {
		*err = "non-zero address padding";
		return -1;
	}
	if (a->family == AF_INET) {
		if (!all_zero(a->ip, 4, sizeof(a->ip))) {
			*err = "IPv4 address with non-zero trailing bytes";
			return -1;
		}
		return 0;
	}
	if (a->family == AF_INET6)
		return 0;
	*err = "unknown address family";
	return -1;
}

size_t
gateipc_allow_len(const struct gateipc_allow *m)
{
	size_t n = m->naddrs <= GATEIPC_MAX_ADDRS ? m->naddrs : GATEIPC_MAX_ADDRS;

	return offsetof(struct gateipc_allow, addrs) + n * sizeof(m->addrs[0]);
}

int
gateipc_allow_check(const void *buf, size_t len, const char **err)
{
	/* Copied so that fields are read aligned whatever buf is. */
	struct gateipc_allow m;
	char norm[NAME_MAX_LEN + 1];
	const char *nerr;
	size_t namelen;
	size_t i;

	if (len < offsetof(struct gateipc_allow, addrs[1]) || len > sizeof(m)) {
		*err = "wrong length";
		return -1;
	}
	memset(&m, 0, sizeof(m));
	memcpy(&m, buf, len);
	if (m.type != GATEIPC_ALLOW) {
		*err = "wrong type";
		return -1;
	}
	if (m.version != GATEIPC_VERSION) {
		*err = "wrong version";
		return -1;
	}
	if (m.naddrs < 1 || m.naddrs > GATEIPC_MAX_ADDRS) {
		*err = "address count out of range";
		return -1;
	}
	if (len != gateipc_allow_len(&m)) {
		*err = "wrong length";
		return -1;
	}
	if (m.pad != 0) {
		*err = "non-zero padding";
		return -1;
	}
	namelen = strnlen(m.name, sizeof(m.name));
	if (namelen == sizeof(m.name)) {
		*err = "unterminated name";
		return -1;
	}
	if (!all_zero(m.name, namelen, sizeof(m.name))) {
		*err = "non-zero bytes after the name";
		return -1;
	}
	if (name_normalize(m.name, norm, &nerr) == -1 || strcmp(norm, m.name) != 0) {
		*err = "malformed name";
		return -1;
	}
	for (i = 0; i < m.naddrs; i++) {
		if (check_addr(&m.addrs[i], err) == -1)
			return -1;
	}
	return 0;
}

/* A fixed-size message: exactly size bytes, of that type and our version. */
static int
check_fixed(const void *buf, size_t len, size_t size, uint16_t type, const char **err)
{
	uint16_t head[2];

	if (len != size) {
		*err = "wrong length";
		return -1;
	}
	memcpy(head, buf, sizeof(head));
	if (head[0] != type) {
		*err = "wrong type";
		return -1;
	}
	if (head[1] != GATEIPC_VERSION) {
		*err = "wrong version";
		return -1;
	}
	return 0;
}

int
gateipc_ack_check(const void *buf, size_t len, const char **err)
{
	struct gateipc_ack m;

	if (check_fixed(buf, len, sizeof(m), GATEIPC_ACK, err) == -1)
		return -1;
	memcpy(&m, buf, sizeof(m));
	if (m.status > GATEIPC_ERR_BAD_MESSAGE) {
		*err = "unknown status";
		return -1;
	}
	return 0;
}

int
gateipc_who_init(struct gateipc_who *m, uint32_t id, uint8_t proto, int family,
                 const uint8_t *client, uint16_t cport, const uint8_t *listen, uint16_t lport)
{
	size_t alen = family == AF_INET ? 4 : 16;

	memset(m, 0, sizeof(*m));
	if ((proto != IPPROTO_UDP && proto != IPPROTO_TCP) ||
	    (family != AF_INET && family != AF_INET6) || cport == 0 || lport == 0)
		return -1;
	m->type = GATEIPC_WHO;
	m->version = GATEIPC_VERSION;
	m->id = id;
	m->proto = proto;
	m->family = (uint8_t)family;
	m->cport = cport;
	m->lport = lport;
	memcpy(m->client, client, alen);
	memcpy(m->listen, listen, alen);
	return 0;
}

void
gateipc_who_reply_init(struct gateipc_who_reply *m, uint32_t id, enum gateipc_why why, int32_t pid,
                       const char *comm, const char *exe)
{
	memset(m, 0, sizeof(*m));
	m->type = GATEIPC_WHO_REPLY;
	m->version = GATEIPC_VERSION;
	m->id = id;
	if (why != GATEIPC_WHY_FOUND || pid <= 0) {
		m->why = why == GATEIPC_WHY_FOUND || why > GATEIPC_WHY_NONE ? GATEIPC_WHY_NONE
		                                                            : (uint32_t)why;
		m->pid = -1;
		return;
	}
	m->why = GATEIPC_WHY_FOUND;
	m->pid = pid;
	if (comm != NULL)
		memcpy(m->comm, comm, strnlen(comm, sizeof(m->comm) - 1));
	if (exe != NULL)
		memcpy(m->exe, exe, strnlen(exe, sizeof(m->exe) - 1));
}

int
gateipc_who_check(const void *buf, size_t len, const char **err)
{
	struct gateipc_who m;
	size_t alen;

	if (check_fixed(buf, len, sizeof(m), GATEIPC_WHO, err) == -1)
		return -1;
	memcpy(&m, buf, sizeof(m));
	if (m.proto != IPPROTO_UDP && m.proto != IPPROTO_TCP) {
		*err = "unknown protocol";
		return -1;
	}
	if (m.family != AF_INET && m.family != AF_INET6) {
		*err = "unknown address family";
		return -1;
	}
	if (m.pad != 0) {
		*err = "non-zero padding";
		return -1;
	}
	if (m.cport == 0 || m.lport == 0) {
		*err = "port 0";
		return -1;
	}
	alen = m.family == AF_INET ? 4 : 16;
	if (!all_zero(m.client, alen, sizeof(m.client)) ||
	    !all_zero(m.listen, alen, sizeof(m.listen))) {
		*err = "IPv4 address with non-zero trailing bytes";
		return -1;
	}
	return 0;
}

/* A NUL-terminated string with nothing but NULs after it. */
static bool
padded_string(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	return n < size && all_zero(s, n, size);
}

int
gateipc_who_reply_check(const void *buf, size_t len, const char **err)
{
	struct gateipc_who_reply m;

	if (check_fixed(buf, len, sizeof(m), GATEIPC_WHO_REPLY, err) == -1)
		return -1;
	memcpy(&m, buf, sizeof(m));
	if (m.why > GATEIPC_WHY_NONE) {
		*err = "unknown why";
		return -1;
	}
	if (!padded_string(m.comm, sizeof(m.comm)) || !padded_string(m.exe, sizeof(m.exe))) {
		*err = "unterminated or unpadded string";
		return -1;
	}
	if (m.why == GATEIPC_WHY_FOUND ? m.pid <= 0
	                               : m.pid != -1 || m.comm[0] != '\0' || m.exe[0] != '\0') {
		*err = "pid or names that do not fit why";
		return -1;
	}
	return 0;
}

uint16_t
gateipc_type(const void *buf, size_t len)
{
	uint16_t t;

	if (len < sizeof(t))
		return 0;
	memcpy(&t, buf, sizeof(t));
	return t;
}

const char *
gateipc_why_name(enum gateipc_why why)
{
	static const char *const names[] = {"found",   "gone",     "denied", "busy",
	                                    "timeout", "nohelper", "none",   "nogate"};

	return (unsigned)why < sizeof(names) / sizeof(names[0]) ? names[why] : "none";
}
