/* The container's own networks over rtnetlink: see localnet.h. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include "localnet.h"
#include "log.h"

/* Dumps come in messages of up to a page or so each; libmnl's own
 * MNL_SOCKET_DUMP_SIZE (newer versions) is this. */
#define DUMP_BUF_SIZE 32768

static size_t
family_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* Adds an attribute that holds an address of family, as net/prefix. */
static void
add_attr(struct inward_local *l, int family, const struct nlattr *a, unsigned prefix)
{
	if (a == NULL || mnl_attr_get_payload_len(a) != family_len(family))
		return;
	inward_local_add(l, family, mnl_attr_get_payload(a), prefix);
}

static int
addr_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFA_MAX + 1] = {0};
	const struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWADDR ||
	    (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*ifa))
	{
		uint16_t t = mnl_attr_get_type(a);

		if (t <= IFA_MAX)
			tb[t] = a;
	}
	/* IFA_LOCAL is the address itself; IFA_ADDRESS the same, or the peer
	 * of a point-to-point link. Both are the container's neighbourhood. */
	add_attr(data, ifa->ifa_family, tb[IFA_LOCAL], ifa->ifa_prefixlen);
	add_attr(data, ifa->ifa_family, tb[IFA_ADDRESS], ifa->ifa_prefixlen);
	return MNL_CB_OK;
}

static void
add_nexthops(struct inward_local *l, int family, const struct nlattr *mp)
{
	const struct rtnexthop *nh = mnl_attr_get_payload(mp);
	size_t left = mnl_attr_get_payload_len(mp);

	while (left >= sizeof(*nh) && nh->rtnh_len >= sizeof(*nh) && nh->rtnh_len <= left) {
		const struct nlattr *a = (const struct nlattr *)RTNH_DATA(nh);
		size_t alen = nh->rtnh_len - RTNH_LENGTH(0);

		while (mnl_attr_ok(a, (int)alen)) {
			if (mnl_attr_get_type(a) == RTA_GATEWAY)
				add_attr(l, family, a, family == AF_INET ? 32 : 128);
			alen -= MNL_ALIGN(a->nla_len);
			a = mnl_attr_next(a);
		}
		left -= RTNH_ALIGN(nh->rtnh_len);
		nh = RTNH_NEXT(nh);
	}
}

static int
route_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[RTA_MAX + 1] = {0};
	const struct nlattr *a;
	int family = rtm->rtm_family;

	if (nlh->nlmsg_type != RTM_NEWROUTE || (family != AF_INET && family != AF_INET6) ||
	    rtm->rtm_type != RTN_UNICAST)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*rtm))
	{
		uint16_t t = mnl_attr_get_type(a);

		if (t <= RTA_MAX)
			tb[t] = a;
	}
	add_attr(data, family, tb[RTA_GATEWAY], family == AF_INET ? 32 : 128);
	if (tb[RTA_MULTIPATH] != NULL)
		add_nexthops(data, family, tb[RTA_MULTIPATH]);
	/* A network reached without a gateway is on the link; a default
	 * route without one ("default dev eth0") is no network of ours. */
	if (tb[RTA_GATEWAY] == NULL && tb[RTA_MULTIPATH] == NULL && rtm->rtm_dst_len > 0)
		add_attr(data, family, tb[RTA_DST], rtm->rtm_dst_len);
	return MNL_CB_OK;
}

static int
dump(struct mnl_socket *nl, uint16_t type, mnl_cb_t cb, struct inward_local *out)
{
	static char buf[DUMP_BUF_SIZE];
	unsigned portid = mnl_socket_get_portid(nl);
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	unsigned seq = (unsigned)time(NULL) + type;
	ssize_t n;
	int ret;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	/* ifaddrmsg and rtmsg both start with the family; AF_UNSPEC dumps
	 * both families. rtmsg is the larger of the two. */
	rtm = mnl_nlmsg_put_extra_header(nlh, type == RTM_GETADDR ? sizeof(struct ifaddrmsg)
	                                                          : sizeof(struct rtmsg));
	rtm->rtm_family = AF_UNSPEC;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		log_warn("localnet: sending the %s dump request",
		         type == RTM_GETADDR ? "address" : "route");
		return -1;
	}
	do {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			log_warn("localnet: reading the %s dump",
			         type == RTM_GETADDR ? "address" : "route");
			return -1;
		}
		ret = mnl_cb_run(buf, (size_t)n, seq, portid, cb, out);
	} while (ret > MNL_CB_STOP);
	if (ret < 0) {
		log_warn("localnet: the %s dump failed", type == RTM_GETADDR ? "address" : "route");
		return -1;
	}
	return 0;
}

int
localnet_read(struct inward_local *out)
{
	struct mnl_socket *nl;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	nl = mnl_socket_open(NETLINK_ROUTE);
	if (nl == NULL) {
		log_warn("localnet: opening a route netlink socket");
		return -1;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		log_warn("localnet: binding the route netlink socket");
		goto out;
	}
	if (dump(nl, RTM_GETADDR, addr_cb, out) == 0 && dump(nl, RTM_GETROUTE, route_cb, out) == 0)
		ret = 0;
out:
	mnl_socket_close(nl);
	return ret;
}

/* Announcements come in bursts (an address brings its prefix route and
 * more); one re-read after the burst is enough. */
#define WATCH_SETTLE_MS 50

struct localnet_watch {
	struct loop *lp;
	struct mnl_socket *nl;
	struct loop_timer settle;
	void (*cb)(void *arg);
	void *arg;
};

static void
watch_settled(struct loop_timer *t, void *arg)
{
	struct localnet_watch *w = arg;

	w->cb(w->arg);
}

static void
watch_readable(int fd, uint32_t events, void *arg)
{
	static char buf[DUMP_BUF_SIZE];
	struct localnet_watch *w = arg;
	bool changed = false;

	/* What changed does not matter: the whole view is read again. */
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0) {
			changed = true;
			continue;
		}
		if (n < 0 && errno == ENOBUFS) {
			/* Announcements were lost: read again to be sure. */
			changed = true;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			log_warn("localnet: reading route announcements");
		break;
	}
	if (changed && !loop_timer_armed(&w->settle))
		loop_timer_set(w->lp, &w->settle, WATCH_SETTLE_MS);
}

struct localnet_watch *
localnet_watch_new(struct loop *lp, void (*cb)(void *arg), void *arg)
{
	struct localnet_watch *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		log_warn("localnet: allocating the watch");
		return NULL;
	}
	w->lp = lp;
	w->cb = cb;
	w->arg = arg;
	loop_timer_init(&w->settle, watch_settled, w);
	w->nl = mnl_socket_open(NETLINK_ROUTE);
	if (w->nl == NULL) {
		log_warn("localnet: opening a route netlink socket for announcements");
		free(w);
		return NULL;
	}
	if (mnl_socket_bind(w->nl,
	                    RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE |
	                        RTMGRP_IPV6_ROUTE,
	                    MNL_SOCKET_AUTOPID) < 0) {
		log_warn("localnet: subscribing to address and route announcements");
		goto fail;
	}
	if (loop_add(lp, mnl_socket_get_fd(w->nl), EPOLLIN, watch_readable, w) < 0) {
		log_warn("localnet: watching route announcements");
		goto fail;
	}
	return w;
fail:
	mnl_socket_close(w->nl);
	free(w);
	return NULL;
}

void
localnet_watch_free(struct localnet_watch *w)
{
	if (w == NULL)
		return;
	loop_timer_cancel(w->lp, &w->settle);
	loop_del(w->lp, mnl_socket_get_fd(w->nl));
	mnl_socket_close(w->nl);
	free(w);
}
