/*
 * ipset netlink client: libmnl, NLM_F_ACK on every request. A batch
 * (ipset_batch_*) puts several requests' messages into one sendto, each with
 * its own sequence number, and then reads the kernel's answer to every one of
 * them, so that many small ADDs cost one round trip instead of one each.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/ipset/ip_set.h>
#include <linux/netfilter/ipset/ip_set_hash.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "ipset.h"
#include "log.h"

/* Large enough for a few hundred entries with their comments; a bigger
 * batch is split over several messages. */
#define IPSET_MSG_BUF 65536
/* A refused entry of a message comes back as an error that carries a copy
 * of the whole message (ipset reports the line number that way, and
 * NETLINK_CAP_ACK does not shorten it), so the receive buffer holds the
 * largest message. */
#define IPSET_RECV_BUF (IPSET_MSG_BUF + 1024)
/* Room one data entry can take, with a full-length comment. */
#define ENTRY_ROOM 512
/* Room a message takes before its entries: headers, set name, line number. */
#define HEAD_ROOM 128
/* Messages of one batch exchange at the most. Every answer takes a few
 * hundred bytes of the socket's receive buffer until it is read; this many
 * stay well inside the default, so no answer is dropped. */
#define BATCH_MSGS 128
/* What a batch reads of each answer: the header and the error code, which
 * is all it needs (a refusal's copy of the request is cut off). */
#define ANSWER_ROOM 256

/* One message of a batch in flight: whose it is, for the result and the log. */
struct batch_msg {
	size_t req;
	size_t n;
	bool answered;
	char name[IPSET_MAXNAMELEN];
};

struct ipset_nl {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	char *buf;  /* IPSET_MSG_BUF */
	char *rbuf; /* IPSET_RECV_BUF */
	/* The batch being built in buf: blen bytes, nmsgs messages whose
	 * sequence numbers follow on from seq0. */
	bool *ok;
	size_t nreq;
	size_t blen;
	size_t nmsgs;
	uint32_t seq0;
	struct batch_msg msgs[BATCH_MSGS];
	char answers[BATCH_MSGS][ANSWER_ROOM];
};

/* Readable text for an errno or IPSET_ERR_* code from the kernel. */
static const char *
ipset_strerror(int err)
{
	switch (err) {
	case IPSET_ERR_PROTOCOL:
		return "kernel rejected the ipset protocol message";
	case IPSET_ERR_FIND_TYPE:
		return "kernel lacks this set type";
	case IPSET_ERR_MAX_SETS:
		return "kernel set limit reached";
	case IPSET_ERR_BUSY:
		return "set is in use by a kernel component (an iptables rule)";
	case IPSET_ERR_EXIST_SETNAME2:
		return "second set does not exist";
	case IPSET_ERR_TYPE_MISMATCH:
		return "the two sets have different types or families";
	case IPSET_ERR_EXIST:
		return "set already exists with a different type or options";
	case IPSET_ERR_INVALID_CIDR:
		return "invalid prefix length";
	case IPSET_ERR_INVALID_FAMILY:
		return "wrong address family for this set";
	case IPSET_ERR_TIMEOUT:
		return "set was created without timeout support";
	case IPSET_ERR_REFERENCED:
		return "set is referenced by an iptables rule";
	case IPSET_ERR_IPADDR_IPV4:
		return "invalid IPv4 address";
	case IPSET_ERR_IPADDR_IPV6:
		return "invalid IPv6 address";
	case IPSET_ERR_COMMENT:
		return "set was created without comment support";
	case IPSET_ERR_HASH_FULL:
		return "set is full (maxelem reached)";
	case IPSET_ERR_HASH_ELEM:
		return "null-valued element";
	case IPSET_ERR_INVALID_PROTO:
		return "invalid protocol";
	case IPSET_ERR_MISSING_PROTO:
		return "protocol missing";
	case ENOENT:
		return "set does not exist";
	case EPERM:
		return "operation not permitted (needs CAP_NET_ADMIN)";
	default:
		return err < IPSET_ERR_PRIVATE ? strerror(err) : "unknown ipset error";
	}
}

static struct nlmsghdr *
put_request(struct ipset_nl *h, char *buf, int cmd, int family)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_IPSET << 8) | cmd;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++h->seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(0);
	mnl_attr_put_u8(nlh, IPSET_ATTR_PROTOCOL, IPSET_PROTOCOL);
	return nlh;
}

/* Sends nlh and reads until the kernel's ACK (or error) for it. Data
 * replies go to cb. Returns 0, or -1 with errno set to the kernel's code. */
static int
exchange(struct ipset_nl *h, struct nlmsghdr *nlh, mnl_cb_t cb, void *arg)
{
	uint32_t seq = nlh->nlmsg_seq;
	ssize_t n;
	/* MNL_CB_OK so that a read interrupted before any answer (EINTR,
	 * continue) reads again rather than ending on an unset ret. */
	int ret = MNL_CB_OK;

	if (mnl_socket_sendto(h->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	do {
		n = mnl_socket_recvfrom(h->nl, h->rbuf, IPSET_RECV_BUF);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		ret = mnl_cb_run(h->rbuf, (size_t)n, seq, h->portid, cb, arg);
	} while (ret > MNL_CB_STOP);
	return ret < 0 ? -1 : 0;
}

struct u8_reply {
	int attr;
	uint8_t value;
	bool found;
};

static int
u8_attr_cb(const struct nlattr *a, void *arg)
{
	struct u8_reply *r = arg;

	if (mnl_attr_get_type(a) == r->attr && mnl_attr_validate(a, MNL_TYPE_U8) == 0) {
		r->value = mnl_attr_get_u8(a);
		r->found = true;
	}
	return MNL_CB_OK;
}

static int
u8_reply_cb(const struct nlmsghdr *nlh, void *arg)
{
	return mnl_attr_parse(nlh, sizeof(struct nfgenmsg), u8_attr_cb, arg) < 0 ? MNL_CB_ERROR
	                                                                         : MNL_CB_OK;
}

struct ipset_nl *
ipset_open(void)
{
	struct ipset_nl *h;
	struct nlmsghdr *nlh;
	struct timeval tv = {.tv_sec = 2};
	int one = 1;

	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		log_warn("ipset: allocating the handle");
		return NULL;
	}
	h->buf = malloc(IPSET_MSG_BUF);
	h->rbuf = malloc(IPSET_RECV_BUF);
	if (h->buf == NULL || h->rbuf == NULL) {
		log_warn("ipset: allocating buffers");
		goto free_handle;
	}
	h->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (h->nl == NULL) {
		if (errno == EPROTONOSUPPORT)
			log_warnx("ipset: kernel lacks nfnetlink (CONFIG_NETFILTER_NETLINK)");
		else
			log_warn("ipset: opening the netfilter netlink socket");
		goto free_handle;
	}
	if (mnl_socket_bind(h->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		log_warn("ipset: binding the netlink socket");
		goto close_socket;
	}
	h->portid = mnl_socket_get_portid(h->nl);
	/* Netlink's own errors then come back without a copy of our
	 * (possibly large) request; ipset's errors for a line of a batch
	 * still carry one (see IPSET_RECV_BUF). */
	if (mnl_socket_setsockopt(h->nl, NETLINK_CAP_ACK, &one, sizeof(one)) < 0)
		log_warn("ipset: setting NETLINK_CAP_ACK");
	/* The kernel answers at once; a missing answer must not hang the
	 * gate's single loop. */
	if (setsockopt(mnl_socket_get_fd(h->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		log_warn("ipset: setting SO_RCVTIMEO");
	h->seq = (uint32_t)time(NULL);

	nlh = put_request(h, h->buf, IPSET_CMD_PROTOCOL, AF_INET);
	if (exchange(h, nlh, NULL, NULL) < 0) {
		/* nfnetlink answers a subsystem it does not know with EINVAL
		 * (or EOPNOTSUPP); only this first request can tell. */
		if (errno == EINVAL || errno == EOPNOTSUPP || errno == EPROTONOSUPPORT)
			log_warnx("ipset: kernel lacks ip_set support (CONFIG_IP_SET): %s",
			          strerror(errno));
		else
			log_warnx("ipset: probing the kernel: %s", ipset_strerror(errno));
		goto close_socket;
	}
	return h;

close_socket:
	mnl_socket_close(h->nl);
free_handle:
	free(h->buf);
	free(h->rbuf);
	free(h);
	return NULL;
}

void
ipset_close(struct ipset_nl *h)
{
	if (h == NULL)
		return;
	mnl_socket_close(h->nl);
	free(h->buf);
	free(h->rbuf);
	free(h);
}

/* The newest revision of a set type the kernel has: revisions differ in
 * what they support, and CREATE must name one the kernel knows. */
static int
type_revision(struct ipset_nl *h, const char *type, int family, uint8_t *rev)
{
	struct u8_reply r = {.attr = IPSET_ATTR_REVISION};
	struct nlmsghdr *nlh = put_request(h, h->buf, IPSET_CMD_TYPE, family);

	mnl_attr_put_strz(nlh, IPSET_ATTR_TYPENAME, type);
	mnl_attr_put_u8(nlh, IPSET_ATTR_FAMILY, (uint8_t)family);
	if (exchange(h, nlh, u8_reply_cb, &r) < 0) {
		int err = errno;

		if (err == IPSET_ERR_FIND_TYPE)
			log_warnx("ipset: kernel lacks the %s set type (CONFIG_IP_SET_%s)", type,
			          strcmp(type, "hash:net,port") == 0 ? "HASH_NETPORT"
			                                             : "HASH_IPPORT");
		else
			log_warnx("ipset: looking up set type %s: %s", type, ipset_strerror(err));
		return -1;
	}
	if (!r.found) {
		log_warnx("ipset: kernel gave no revision for set type %s", type);
		return -1;
	}
	*rev = r.value;
	return 0;
}

int
ipset_create(struct ipset_nl *h, const char *name, const char *type, int family, uint32_t maxelem,
             bool with_timeout, bool with_comment)
{
	struct nlmsghdr *nlh;
	struct nlattr *data;
	uint8_t rev;

	if (type_revision(h, type, family, &rev) < 0)
		return -1;
	/* No NLM_F_EXCL: the kernel then accepts an existing set of the same
	 * type and options, and keeps its entries. */
	nlh = put_request(h, h->buf, IPSET_CMD_CREATE, family);
	mnl_attr_put_strz(nlh, IPSET_ATTR_SETNAME, name);
	mnl_attr_put_strz(nlh, IPSET_ATTR_TYPENAME, type);
	mnl_attr_put_u8(nlh, IPSET_ATTR_REVISION, rev);
	mnl_attr_put_u8(nlh, IPSET_ATTR_FAMILY, (uint8_t)family);
	data = mnl_attr_nest_start(nlh, IPSET_ATTR_DATA);
	if (with_timeout)
		mnl_attr_put_u32(nlh, IPSET_ATTR_TIMEOUT | NLA_F_NET_BYTEORDER, htonl(0));
	if (maxelem > 0)
		mnl_attr_put_u32(nlh, IPSET_ATTR_MAXELEM | NLA_F_NET_BYTEORDER, htonl(maxelem));
	if (with_comment)
		mnl_attr_put_u32(nlh, IPSET_ATTR_CADT_FLAGS | NLA_F_NET_BYTEORDER,
		                 htonl(IPSET_FLAG_WITH_COMMENT));
	mnl_attr_nest_end(nlh, data);
	if (exchange(h, nlh, NULL, NULL) < 0) {
		int err = errno;

		/* Without NLM_F_EXCL the kernel only refuses an existing set
		 * whose type or options differ from ours. */
		if (err == IPSET_ERR_EXIST || err == EEXIST)
			log_warnx("ipset: set %s already exists with a different type or options "
			          "(want %s family %s); remove it with: ipset destroy %s",
			          name, type, family == AF_INET6 ? "inet6" : "inet", name);
		else
			log_warnx("ipset: creating set %s: %s", name, ipset_strerror(err));
		return -1;
	}
	return 0;
}

static void
put_entry(struct nlmsghdr *nlh, const struct ipset_entry *e, uint32_t lineno, uint32_t timeout,
          const char *comment)
{
	struct nlattr *data, *ip;
	uint32_t v4;

	data = mnl_attr_nest_start(nlh, IPSET_ATTR_DATA);
	ip = mnl_attr_nest_start(nlh, IPSET_ATTR_IP);
	if (e->family == AF_INET) {
		memcpy(&v4, e->ip, 4);
		mnl_attr_put_u32(nlh, IPSET_ATTR_IPADDR_IPV4 | NLA_F_NET_BYTEORDER, v4);
	} else {
		mnl_attr_put(nlh, IPSET_ATTR_IPADDR_IPV6 | NLA_F_NET_BYTEORDER, 16, e->ip);
	}
	mnl_attr_nest_end(nlh, ip);
	if (e->cidr > 0)
		mnl_attr_put_u8(nlh, IPSET_ATTR_CIDR, e->cidr);
	mnl_attr_put_u16(nlh, IPSET_ATTR_PORT | NLA_F_NET_BYTEORDER, htons(e->port));
	mnl_attr_put_u8(nlh, IPSET_ATTR_PROTO, e->proto);
	if (timeout > 0)
		mnl_attr_put_u32(nlh, IPSET_ATTR_TIMEOUT | NLA_F_NET_BYTEORDER, htonl(timeout));
	if (comment != NULL)
		mnl_attr_put_strz(nlh, IPSET_ATTR_COMMENT, comment);
	/* The kernel reports which entry of a batch failed by this number. */
	mnl_attr_put_u32(nlh, IPSET_ATTR_LINENO, lineno);
	mnl_attr_nest_end(nlh, data);
}

static bool
families_ok(const char *name, int family, const struct ipset_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].family != family) {
			log_warnx("ipset: %s: entry %zu has the wrong family", name, i);
			return false;
		}
	}
	return true;
}

/* The kernel refuses longer comments; a name is at most 253. */
static const char *
clip_comment(char *cbuf, size_t size, const char *comment)
{
	if (comment == NULL)
		return NULL;
	snprintf(cbuf, size, "%s", comment);
	return cbuf;
}

/* Builds at buf one ADD or DEL message of entries v[*i] onwards, as many as
 * fit in room bytes (at least HEAD_ROOM + ENTRY_ROOM), and advances *i. */
static struct nlmsghdr *
put_adt(struct ipset_nl *h, char *buf, size_t room, int cmd, const char *name, int family,
        const struct ipset_entry *v, size_t n, size_t *i, uint32_t timeout, const char *comment)
{
	struct nlmsghdr *nlh = put_request(h, buf, cmd, family);
	struct nlattr *adt;

	mnl_attr_put_strz(nlh, IPSET_ATTR_SETNAME, name);
	/* A batch (IPSET_ATTR_ADT) requires a top-level line number. */
	mnl_attr_put_u32(nlh, IPSET_ATTR_LINENO, 0);
	adt = mnl_attr_nest_start(nlh, IPSET_ATTR_ADT);
	for (; *i < n && nlh->nlmsg_len + ENTRY_ROOM < room; (*i)++)
		put_entry(nlh, &v[*i], (uint32_t)(*i + 1), timeout, comment);
	mnl_attr_nest_end(nlh, adt);
	return nlh;
}

/* ADD or DEL of n entries, batched. */
static int
send_adt(struct ipset_nl *h, int cmd, const char *name, int family, const struct ipset_entry *v,
         size_t n, uint32_t timeout, const char *comment)
{
	char cbuf[IPSET_MAX_COMMENT_SIZE + 1];
	size_t i = 0;

	if (!families_ok(name, family, v, n))
		return -1;
	comment = clip_comment(cbuf, sizeof(cbuf), comment);
	while (i < n) {
		size_t first = i;
		struct nlmsghdr *nlh = put_adt(h, h->buf, IPSET_MSG_BUF, cmd, name, family, v, n,
		                               &i, timeout, comment);

		if (exchange(h, nlh, NULL, NULL) < 0) {
			log_warnx("ipset: %s %zu entries %s set %s: %s",
			          cmd == IPSET_CMD_ADD ? "adding" : "deleting", i - first,
			          cmd == IPSET_CMD_ADD ? "to" : "from", name,
			          ipset_strerror(errno));
			return -1;
		}
	}
	return 0;
}

int
ipset_add(struct ipset_nl *h, const char *name, int family, const struct ipset_entry *v, size_t n,
          uint32_t timeout, const char *comment)
{
	return send_adt(h, IPSET_CMD_ADD, name, family, v, n, timeout, comment);
}

int
ipset_del(struct ipset_nl *h, const char *name, int family, const struct ipset_entry *v, size_t n)
{
	/* Without NLM_F_EXCL the kernel skips entries that are not there
	 * instead of stopping the batch at the first one. */
	return send_adt(h, IPSET_CMD_DEL, name, family, v, n, 0, NULL);
}

void
ipset_batch_begin(struct ipset_nl *h, bool *ok, size_t nreq)
{
	for (size_t i = 0; i < nreq; i++)
		ok[i] = true;
	h->ok = ok;
	h->nreq = nreq;
	h->blen = 0;
	h->nmsgs = 0;
}

/* Takes one answer (an NLMSG_ERROR; error 0 is the ACK) of which only the
 * first len bytes were read. Returns whether it was news. */
static bool
batch_answer(struct ipset_nl *h, const char *buf, size_t len)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	struct batch_msg *b;
	uint32_t k;

	if (len < mnl_nlmsg_size(sizeof(*e)) || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)) ||
	    nlh->nlmsg_type != NLMSG_ERROR)
		return false;
	k = nlh->nlmsg_seq - h->seq0;
	if (k >= h->nmsgs || h->msgs[k].answered)
		return false;
	b = &h->msgs[k];
	b->answered = true;
	if (e->error != 0) {
		h->ok[b->req] = false;
		log_warnx("ipset: adding %zu entries to set %s: %s", b->n, b->name,
		          ipset_strerror(-e->error));
	}
	return true;
}

/* Reads what answers there are, at least one, in one recvmmsg; returns
 * how many were news, or -1. Every answer is a datagram of its own. */
static ssize_t
batch_read(struct ipset_nl *h, size_t want)
{
	struct sockaddr_nl from[BATCH_MSGS];
	struct mmsghdr mm[BATCH_MSGS];
	struct iovec iov[BATCH_MSGS];
	ssize_t got = 0;
	int n;

	memset(mm, 0, want * sizeof(mm[0]));
	for (size_t i = 0; i < want; i++) {
		iov[i].iov_base = h->answers[i];
		iov[i].iov_len = ANSWER_ROOM;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_name = &from[i];
		mm[i].msg_hdr.msg_namelen = sizeof(from[i]);
		/* Not the kernel's (pid 0) unless the kernel says so. */
		from[i].nl_pid = UINT32_MAX;
	}
	n = recvmmsg(mnl_socket_get_fd(h->nl), mm, (unsigned)want, MSG_WAITFORONE, NULL);
	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		/* Only the kernel speaks for itself (as libmnl checks too). */
		if (mm[i].msg_hdr.msg_namelen == sizeof(from[i]) && from[i].nl_pid == 0 &&
		    batch_answer(h, h->answers[i], mm[i].msg_len))
			got++;
	}
	return got;
}

/* After a failed read: answers still queued would only confuse the next
 * exchange, which expects its own sequence number. */
static void
batch_drain(struct ipset_nl *h)
{
	int fd = mnl_socket_get_fd(h->nl);

	for (;;) {
		ssize_t n = recv(fd, h->rbuf, IPSET_RECV_BUF, MSG_DONTWAIT);

		if (n < 0 && errno != EINTR && errno != ENOBUFS)
			break;
	}
}

/* Sends the messages built so far in one sendto and reads an answer to
 * every one; a message without one counts as refused. */
static void
batch_flush(struct ipset_nl *h)
{
	size_t left = h->nmsgs;
	ssize_t n;

	if (h->nmsgs == 0)
		return;
	if (mnl_socket_sendto(h->nl, h->buf, h->blen) < 0) {
		log_warn("ipset: sending %zu requests in a batch", h->nmsgs);
		left = 0;
	}
	while (left > 0) {
		n = batch_read(h, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_warn("ipset: reading the kernel's answers to %zu requests", left);
			batch_drain(h);
			break;
		}
		left -= (size_t)n;
	}
	for (size_t k = 0; k < h->nmsgs; k++) {
		if (!h->msgs[k].answered)
			h->ok[h->msgs[k].req] = false;
	}
	h->blen = 0;
	h->nmsgs = 0;
}

void
ipset_batch_add(struct ipset_nl *h, size_t req, const char *name, int family,
                const struct ipset_entry *v, size_t n, uint32_t timeout, const char *comment)
{
	char cbuf[IPSET_MAX_COMMENT_SIZE + 1];
	size_t i = 0;

	if (req >= h->nreq || !families_ok(name, family, v, n)) {
		if (req < h->nreq)
			h->ok[req] = false;
		return;
	}
	comment = clip_comment(cbuf, sizeof(cbuf), comment);
	while (i < n) {
		struct batch_msg *b;
		struct nlmsghdr *nlh;
		size_t first = i;

		if (h->nmsgs == BATCH_MSGS || h->blen + HEAD_ROOM + ENTRY_ROOM >= IPSET_MSG_BUF)
			batch_flush(h);
		nlh = put_adt(h, h->buf + h->blen, IPSET_MSG_BUF - h->blen, IPSET_CMD_ADD, name,
		              family, v, n, &i, timeout, comment);
		if (h->nmsgs == 0)
			h->seq0 = nlh->nlmsg_seq;
		b = &h->msgs[h->nmsgs++];
		b->req = req;
		b->n = i - first;
		b->answered = false;
		snprintf(b->name, sizeof(b->name), "%s", name);
		h->blen += nlh->nlmsg_len;
	}
}

int
ipset_batch_commit(struct ipset_nl *h)
{
	bool all = true;

	batch_flush(h);
	for (size_t i = 0; i < h->nreq; i++)
		all = all && h->ok[i];
	h->ok = NULL;
	h->nreq = 0;
	return all ? 0 : -1;
}

struct list_ctx {
	int family;
	ipset_list_cb cb;
	void *arg;
};

static int
table_cb(const struct nlattr *a, void *arg)
{
	const struct nlattr **tb = arg;
	int type = mnl_attr_get_type(a);

	/* Every table here has room for IPSET_ATTR_ADT_MAX + 1, the largest. */
	if (type <= IPSET_ATTR_ADT_MAX)
		tb[type] = a;
	return MNL_CB_OK;
}

/* One member of a listing: IPSET_ATTR_DATA with the IP, port, proto,
 * timeout and comment attributes. Members that are not well formed are
 * skipped: the kernel wrote them, and a listing only informs. */
static void
list_member(const struct list_ctx *lc, const struct nlattr *data)
{
	const struct nlattr *tb[IPSET_ATTR_ADT_MAX + 1] = {0}, *ip[IPSET_ATTR_ADT_MAX + 1] = {0};
	struct ipset_entry e = {.family = lc->family};
	const char *comment = NULL;
	uint32_t timeout = 0;

	if (mnl_attr_parse_nested(data, table_cb, tb) < 0 || tb[IPSET_ATTR_IP] == NULL ||
	    tb[IPSET_ATTR_PORT] == NULL || tb[IPSET_ATTR_PROTO] == NULL ||
	    mnl_attr_parse_nested(tb[IPSET_ATTR_IP], table_cb, ip) < 0)
		return;
	if (lc->family == AF_INET && ip[IPSET_ATTR_IPADDR_IPV4] != NULL &&
	    mnl_attr_get_payload_len(ip[IPSET_ATTR_IPADDR_IPV4]) == 4)
		memcpy(e.ip, mnl_attr_get_payload(ip[IPSET_ATTR_IPADDR_IPV4]), 4);
	else if (lc->family == AF_INET6 && ip[IPSET_ATTR_IPADDR_IPV6] != NULL &&
	         mnl_attr_get_payload_len(ip[IPSET_ATTR_IPADDR_IPV6]) == 16)
		memcpy(e.ip, mnl_attr_get_payload(ip[IPSET_ATTR_IPADDR_IPV6]), 16);
	else
		return;
	if (mnl_attr_validate(tb[IPSET_ATTR_PORT], MNL_TYPE_U16) < 0 ||
	    mnl_attr_validate(tb[IPSET_ATTR_PROTO], MNL_TYPE_U8) < 0)
		return;
	e.port = ntohs(mnl_attr_get_u16(tb[IPSET_ATTR_PORT]));
	e.proto = mnl_attr_get_u8(tb[IPSET_ATTR_PROTO]);
	if (tb[IPSET_ATTR_TIMEOUT] != NULL &&
	    mnl_attr_validate(tb[IPSET_ATTR_TIMEOUT], MNL_TYPE_U32) == 0)
		timeout = ntohl(mnl_attr_get_u32(tb[IPSET_ATTR_TIMEOUT]));
	if (tb[IPSET_ATTR_COMMENT] != NULL &&
	    mnl_attr_validate(tb[IPSET_ATTR_COMMENT], MNL_TYPE_NUL_STRING) == 0)
		comment = mnl_attr_get_str(tb[IPSET_ATTR_COMMENT]);
	lc->cb(lc->arg, &e, timeout, comment);
}

static int
list_reply_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *tb[IPSET_ATTR_ADT_MAX + 1] = {0}, *a;

	if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), table_cb, tb) < 0)
		return MNL_CB_ERROR;
	if (tb[IPSET_ATTR_ADT] == NULL)
		return MNL_CB_OK;
	mnl_attr_for_each_nested(a, tb[IPSET_ATTR_ADT])
	{
		if (mnl_attr_get_type(a) == IPSET_ATTR_DATA)
			list_member(arg, a);
	}
	return MNL_CB_OK;
}

int
ipset_list(struct ipset_nl *h, const char *name, int family, ipset_list_cb cb, void *arg)
{
	struct list_ctx lc = {.family = family, .cb = cb, .arg = arg};
	struct nlmsghdr *nlh = put_request(h, h->buf, IPSET_CMD_LIST, family);

	/* A dump ends with NLMSG_DONE, not an ACK. */
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	mnl_attr_put_strz(nlh, IPSET_ATTR_SETNAME, name);
	if (exchange(h, nlh, list_reply_cb, &lc) < 0) {
		log_warnx("ipset: listing %s: %s", name, ipset_strerror(errno));
		return -1;
	}
	return 0;
}

int
ipset_swap(struct ipset_nl *h, const char *a, const char *b)
{
	struct nlmsghdr *nlh = put_request(h, h->buf, IPSET_CMD_SWAP, AF_INET);

	mnl_attr_put_strz(nlh, IPSET_ATTR_SETNAME, a);
	mnl_attr_put_strz(nlh, IPSET_ATTR_SETNAME2, b);
	if (exchange(h, nlh, NULL, NULL) < 0) {
		log_warnx("ipset: swapping sets %s and %s: %s", a, b, ipset_strerror(errno));
		return -1;
	}
	return 0;
}

int
ipset_flush(struct ipset_nl *h, const char *name)
{
	struct nlmsghdr *nlh = put_request(h, h->buf, IPSET_CMD_FLUSH, AF_INET);

	mnl_attr_put_strz(nlh, IPSET_ATTR_SETNAME, name);
	if (exchange(h, nlh, NULL, NULL) < 0) {
		log_warnx("ipset: flushing set %s: %s", name, ipset_strerror(errno));
		return -1;
	}
	return 0;
}

int
ipset_destroy(struct ipset_nl *h, const char *name, bool missing_ok)
{
	struct nlmsghdr *nlh = put_request(h, h->buf, IPSET_CMD_DESTROY, AF_INET);

	mnl_attr_put_strz(nlh, IPSET_ATTR_SETNAME, name);
	if (exchange(h, nlh, NULL, NULL) < 0) {
		if (errno == ENOENT && missing_ok)
			return 0;
		log_warnx("ipset: destroying set %s: %s", name, ipset_strerror(errno));
		return -1;
	}
	return 0;
}
