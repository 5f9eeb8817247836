/* NFQUEUE over libmnl: bind, receive, verdicts, flow log. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "bind.h"
#include "kernel.h"
#include "log.h"
#include "packet.h"
#include "queue.h"
#include "ratelimit.h"
#include "verdict.h"
#include "who.h"

#define QUEUE_RECV_BUF (65536 + 8192)
#define QUEUE_SEND_BUF 8192 /* one verdict or config message */
/* Messages read per wakeup before giving the resolver socket a turn. */
#define QUEUE_BATCH 256
/* The kernel buffers queued packets here while the gate is busy. */
#define QUEUE_SOCK_RCVBUF (8 * 1024 * 1024)

struct queue {
	struct loop *lp;
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	uint16_t num;
	const struct conf *conf;
	const struct addrmap *map;
	struct bindtab *bind; /* first flights under way (bind.h) */
	struct ratelimit rl;
	struct who *who; /* the lookup of a denied flow's sender (who.h) */
	char *buf;
	char sbuf[QUEUE_SEND_BUF];
};

/* A config request with NLM_F_ACK, checked. */
static int
config_exchange(struct queue *q, struct nlmsghdr *nlh, const char *what)
{
	ssize_t n;
	int ret;

	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = ++q->seq;
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0) {
		log_warn("queue %u: sending %s", q->num, what);
		return -1;
	}
	do {
		n = mnl_socket_recvfrom(q->nl, q->buf, QUEUE_RECV_BUF);
		if (n < 0) {
			log_warn("queue %u: reading the answer to %s", q->num, what);
			return -1;
		}
		ret = mnl_cb_run(q->buf, (size_t)n, nlh->nlmsg_seq, q->portid, NULL, NULL);
	} while (ret > MNL_CB_STOP);
	if (ret < 0) {
		if (errno == EBUSY)
			log_warnx("queue %u: %s: another process is bound to this queue", q->num,
			          what);
		else if (errno == EPERM)
			log_warnx("queue %u: %s: not permitted (needs CAP_NET_ADMIN)", q->num,
			          what);
		else
			log_warn("queue %u: %s", q->num, what);
		return -1;
	}
	return 0;
}

static void
send_verdict(struct queue *q, uint32_t id, int verdict, uint32_t set_mark)
{
	struct nlmsghdr *nlh = nfq_nlmsg_put(q->sbuf, NFQNL_MSG_VERDICT, q->num);

	nfq_nlmsg_verdict_put(nlh, (int)id, verdict);
	if (set_mark != 0)
		nfq_nlmsg_verdict_put_mark(nlh, set_mark);
	/* A verdict that cannot be sent leaves the packet queued until the
	 * queue overflows, and overflow drops: still closed. */
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
		log_warn("queue %u: sending the verdict for packet %u", q->num, id);
}

/* What a denial is logged by at least once an interval, over the rate
 * limit (common/ratelimit.h): the destination. Unparsed packets share the
 * zero key. */
struct flow_key {
	uint8_t family, proto;
	uint8_t dport[2];
	uint8_t dst[16];
};

/* Will the line of this denial be written (the rate limit)? Only those
 * get a sender lookup. */
static bool
log_flow_ok(struct queue *q, const struct flow *f, bool parsed)
{
	struct flow_key k = {0};

	if (parsed) {
		k.family = (uint8_t)f->family;
		k.proto = f->proto;
		k.dport[0] = (uint8_t)(f->dport >> 8);
		k.dport[1] = (uint8_t)f->dport;
		memcpy(k.dst, f->dst, sizeof(k.dst));
	}
	return ratelimit_ok_key(&q->rl, &k, sizeof(k));
}

static void
log_flow(const struct flow *f, bool parsed, const uint32_t *uid, const struct verdict *v,
         const struct who_answer *who)
{
	struct log_line *l;
	struct addr a = {0};
	char pbuf[8], ip[ADDR_STRLEN];

	l = log_begin(v->audit ? LOGL_INFO : LOGL_WARN, v->audit ? "flow.audit" : "flow.deny");
	if (parsed) {
		logline_str(l, "proto", packet_proto_name(f->proto, pbuf, sizeof(pbuf)));
		a.family = f->family;
		memcpy(a.ip, f->src, sizeof(a.ip));
		logline_str(l, "src", addr_ntop(&a, ip, sizeof(ip)));
		memcpy(a.ip, f->dst, sizeof(a.ip));
		logline_str(l, "dst", addr_ntop(&a, ip, sizeof(ip)));
		if (f->has_ports)
			logline_int(l, "dport", f->dport);
		else
			logline_str(l, "dport", "-");
	} else {
		logline_str(l, "proto", "-");
		logline_str(l, "src", "-");
		logline_str(l, "dst", "-");
		logline_str(l, "dport", "-");
	}
	if (uid != NULL)
		logline_int(l, "uid", *uid);
	else
		logline_str(l, "uid", "-");
	logline_str(l, "reason", verdict_reason_name(v->reason));
	if (v->name != NULL)
		logline_str(l, "name", v->name);
	if (v->bind) {
		logline_str(l, v->http ? "host" : "sni", v->claim[0] ? v->claim : "-");
		logline_str(l, "names", v->names[0] ? v->names : "-");
	}
	if (who != NULL)
		who_log(l, who);
	log_end(l);
}

static int
packet_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct queue *q = arg;
	struct nlattr *attr[NFQA_MAX + 1] = {NULL};
	struct nfqnl_msg_packet_hdr *ph;
	const struct addrmap_entry *e = NULL;
	struct flow f;
	struct verdict v;
	struct who_answer who;
	uint32_t id, mark = 0, uid;
	bool parsed = false, have_uid = false, write, looked = false;
	int nfv;

	if (nfq_nlmsg_parse(nlh, attr) < 0) {
		log_warn("queue %u: parsing a queued packet message", q->num);
		return MNL_CB_OK;
	}
	if (attr[NFQA_PACKET_HDR] == NULL ||
	    mnl_attr_get_payload_len(attr[NFQA_PACKET_HDR]) < sizeof(*ph)) {
		/* Without an id there is nothing to answer; the packet stays
		 * queued and is dropped when the queue overflows. */
		log_warnx("queue %u: queued packet without a header", q->num);
		return MNL_CB_OK;
	}
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	id = ntohl(ph->packet_id);
	if (attr[NFQA_MARK] != NULL && mnl_attr_get_payload_len(attr[NFQA_MARK]) >= 4)
		mark = ntohl(mnl_attr_get_u32(attr[NFQA_MARK]));
	if (attr[NFQA_UID] != NULL && mnl_attr_get_payload_len(attr[NFQA_UID]) >= 4) {
		uid = ntohl(mnl_attr_get_u32(attr[NFQA_UID]));
		have_uid = true;
	}
	if (attr[NFQA_PAYLOAD] != NULL &&
	    packet_parse(mnl_attr_get_payload(attr[NFQA_PAYLOAD]),
	                 mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]), &f) == 0) {
		parsed = true;
		e = addrmap_get(q->map, f.family, f.dst);
	}
	if (mark == KERNEL_MARK_BIND_FIRST || mark == KERNEL_MARK_BIND_MORE ||
	    mark == KERNEL_MARK_BIND_QUIC)
		bind_decide(q->bind, parsed ? &f : NULL,
		            parsed ? mnl_attr_get_payload(attr[NFQA_PAYLOAD]) : NULL,
		            parsed ? mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]) : 0, mark, e,
		            q->conf, loop_now_ms(), &v);
	else
		verdict_decide(parsed ? &f : NULL, mark, e, q->conf->mode, q->conf->on_deny,
		               loop_now_ms(), &v);
	switch (v.action) {
	case VERDICT_ACCEPT:
	case VERDICT_PASS:
		nfv = NF_ACCEPT;
		break;
	case VERDICT_REJECT:
	case VERDICT_BIND_OK:
	case VERDICT_BIND_PART:
		nfv = NF_REPEAT;
		break;
	case VERDICT_DROP:
	default:
		nfv = NF_DROP;
		break;
	}
	/* The sender is looked up only for a line that will be written. A
	 * reject resets the socket (or reports the ICMP error to it) as soon
	 * as the verdict is sent, and the client then closes it: so for a
	 * reject the lookup (bounded, who.h) comes first; an accept (audit)
	 * or a drop leaves the socket, and the verdict goes first. Inbound
	 * flows have no local sender. */
	write = v.log && log_flow_ok(q, &f, parsed);
	if (write && have_uid && parsed && v.reason != REASON_INBOUND &&
	    v.action == VERDICT_REJECT) {
		who_flow(q->who, &f, &who);
		looked = true;
	}
	send_verdict(q, id, nfv,
	             v.action == VERDICT_REJECT      ? KERNEL_MARK_DENY
	             : v.action == VERDICT_BIND_OK   ? KERNEL_MARK_BIND_OK
	             : v.action == VERDICT_BIND_PART ? KERNEL_MARK_BIND_PART
	                                             : 0);
	if (!write)
		return MNL_CB_OK;
	if (!looked && have_uid && parsed && v.reason != REASON_INBOUND) {
		who_flow(q->who, &f, &who);
		looked = true;
	}
	log_flow(&f, parsed, have_uid ? &uid : NULL, &v, looked ? &who : NULL);
	return MNL_CB_OK;
}

static void
queue_read(int fd, uint32_t events, void *arg)
{
	struct queue *q = arg;
	ssize_t n;
	int i;

	for (i = 0; i < QUEUE_BATCH; i++) {
		n = mnl_socket_recvfrom(q->nl, q->buf, QUEUE_RECV_BUF);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			/* The kernel dropped messages because we were slow; the
			 * packets are gone (dropped), nothing to answer. */
			if (errno == ENOBUFS) {
				log_warnx("queue %u: socket buffer overflowed, packets dropped",
				          q->num);
				continue;
			}
			log_warn("queue %u: receiving", q->num);
			return;
		}
		if (mnl_cb_run(q->buf, (size_t)n, 0, q->portid, packet_cb, q) < 0)
			log_warn("queue %u: processing queued packets", q->num);
	}
}

struct queue *
queue_new(struct loop *lp, uint16_t num, const struct conf *c, const struct addrmap *map)
{
	struct queue *q;
	struct nlmsghdr *nlh;
	int one = 1, rcvbuf = QUEUE_SOCK_RCVBUF, fd, fl;
	uint32_t flags = NFQA_CFG_F_UID_GID | NFQA_CFG_F_GSO;

	q = calloc(1, sizeof(*q));
	if (q == NULL) {
		log_warn("queue %u: allocating", num);
		return NULL;
	}
	q->lp = lp;
	q->num = num;
	q->conf = c;
	q->map = map;
	q->seq = (uint32_t)time(NULL);
	ratelimit_init(&q->rl, QUEUE_LOG_PER_SECOND);
	ratelimit_track(&q->rl, sizeof(struct flow_key));
	ratelimit_attach(&q->rl, q->lp, "flow.suppressed", NULL);
	q->buf = malloc(QUEUE_RECV_BUF);
	q->bind = bindtab_new();
	if (q->buf == NULL || q->bind == NULL) {
		log_warn("queue %u: allocating the receive buffer", num);
		goto free_queue;
	}
	q->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (q->nl == NULL) {
		log_warn("queue %u: opening the netfilter netlink socket", num);
		goto free_queue;
	}
	if (mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		log_warn("queue %u: binding the netlink socket", num);
		goto close_socket;
	}
	q->portid = mnl_socket_get_portid(q->nl);
	fd = mnl_socket_get_fd(q->nl);

	nlh = nfq_nlmsg_put(q->sbuf, NFQNL_MSG_CONFIG, num);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
	if (config_exchange(q, nlh, "binding the queue") < 0)
		goto close_socket;
	nlh = nfq_nlmsg_put(q->sbuf, NFQNL_MSG_CONFIG, num);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, QUEUE_COPY_RANGE);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, QUEUE_MAXLEN);
	/* UID_GID: the deny log names the sender. GSO: big packets are queued
	 * whole instead of being segmented for us. Never FAIL_OPEN. */
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(flags));
	if (config_exchange(q, nlh, "configuring the queue") < 0)
		goto close_socket;

	/* Under a flood of denied packets the kernel would report ENOBUFS;
	 * those packets are dropped anyway, so tell it not to bother. */
	if (mnl_socket_setsockopt(q->nl, NETLINK_NO_ENOBUFS, &one, sizeof(one)) < 0)
		log_warn("queue %u: setting NETLINK_NO_ENOBUFS", num);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0)
		log_warn("queue %u: enlarging the receive buffer", num);
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		log_warn("queue %u: making the socket non-blocking", num);
		goto close_socket;
	}
	if (loop_add(lp, fd, EPOLLIN, queue_read, q) < 0) {
		log_warn("queue %u: adding to the event loop", num);
		goto close_socket;
	}
	log_info("queue %u: bound", num);
	return q;

close_socket:
	mnl_socket_close(q->nl);
free_queue:
	bindtab_free(q->bind);
	free(q->buf);
	free(q);
	return NULL;
}

void
queue_set_who(struct queue *q, struct who *w)
{
	q->who = w;
}

void
queue_set_conf(struct queue *q, const struct conf *c)
{
	q->conf = c;
}

uint16_t
queue_num(const struct queue *q)
{
	return q->num;
}

void
queue_free(struct queue *q)
{
	struct nlmsghdr *nlh;

	if (q == NULL)
		return;
	loop_del(q->lp, mnl_socket_get_fd(q->nl));
	ratelimit_detach(&q->rl);
	/* Closing the socket unbinds too; saying so first is tidier for the
	 * kernel's bookkeeping. No ACK is awaited: we are leaving. */
	nlh = nfq_nlmsg_put(q->sbuf, NFQNL_MSG_CONFIG, q->num);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_UNBIND);
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
		log_warn("queue %u: unbinding", q->num);
	mnl_socket_close(q->nl);
	bindtab_free(q->bind);
	free(q->buf);
	free(q);
}
