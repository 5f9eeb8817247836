/* IPv4/IPv6 header parsing for queued packets: pure, bounds-checked. */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "packet.h"

/* More extension headers than this is no real traffic; refusing them keeps
 * the walk short whatever the sender built. */
#define MAX_EXT_HEADERS 16

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

/* The transport header starts at off; TCP and UDP both begin with the two
 * ports. Other protocols need nothing more. */
static int
parse_l4(const uint8_t *buf, size_t len, size_t off, bool first_fragment, struct flow *out)
{
	if (!first_fragment)
		return 0;
	if (out->proto != IPPROTO_TCP && out->proto != IPPROTO_UDP)
		return 0;
	if (off > len || len - off < 4)
		return -1;
	out->sport = get16(buf + off);
	out->dport = get16(buf + off + 2);
	out->has_ports = true;
	if (out->proto == IPPROTO_TCP && len - off >= 20) {
		size_t doff = (size_t)(buf[off + 12] >> 4) * 4;

		if (doff < 20 || doff > len - off)
			return -1;
		out->has_tcp = true;
		out->syn = (buf[off + 13] & 0x02) != 0;
		out->seq = (uint32_t)get16(buf + off + 4) << 16 | get16(buf + off + 6);
		out->payload_off = off + doff;
		out->payload_len = len - off - doff;
	}
	if (out->proto == IPPROTO_UDP && len - off >= 8) {
		out->has_udp = true;
		out->payload_off = off + 8;
		out->payload_len = len - off - 8;
	}
	return 0;
}

static int
parse_v4(const uint8_t *buf, size_t len, struct flow *out)
{
	size_t ihl, total;
	uint16_t frag;

	if (len < 20)
		return -1;
	ihl = (size_t)(buf[0] & 0x0f) * 4;
	if (ihl < 20 || ihl > len)
		return -1;
	total = get16(buf + 2);
	/* Zero is how a GSO packet larger than 64 KiB says "see the buffer";
	 * anything else shorter than the header is malformed. */
	if (total != 0 && total < ihl)
		return -1;
	/* The queue may have copied fewer bytes than the packet holds, but never
	 * more: trailing bytes past the IP length are not part of it. */
	if (total != 0 && total < len)
		len = total;
	out->family = AF_INET;
	out->proto = buf[9];
	memcpy(out->src, buf + 12, 4);
	memcpy(out->dst, buf + 16, 4);
	frag = get16(buf + 6) & 0x1fff;
	return parse_l4(buf, len, ihl, frag == 0, out);
}

static int
parse_v6(const uint8_t *buf, size_t len, struct flow *out)
{
	size_t off = 40, payload;
	uint8_t next;
	bool first_fragment = true;
	int i;

	if (len < 40)
		return -1;
	payload = get16(buf + 4);
	/* Zero means a jumbogram or a big GSO packet: the buffer tells the
	 * length then. */
	if (payload != 0 && 40 + payload < len)
		len = 40 + payload;
	out->family = AF_INET6;
	memcpy(out->src, buf + 8, 16);
	memcpy(out->dst, buf + 24, 16);
	next = buf[6];

	for (i = 0; i < MAX_EXT_HEADERS; i++) {
		size_t hlen;

		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if (off > len || len - off < 8)
				return -1;
			hlen = ((size_t)buf[off + 1] + 1) * 8;
			break;
		case IPPROTO_FRAGMENT:
			if (off > len || len - off < 8)
				return -1;
			hlen = 8;
			if ((get16(buf + off + 2) & 0xfff8) != 0)
				first_fragment = false;
			break;
		case IPPROTO_AH:
			if (off > len || len - off < 8)
				return -1;
			hlen = ((size_t)buf[off + 1] + 2) * 4;
			break;
		default:
			out->proto = next;
			return parse_l4(buf, len, off, first_fragment, out);
		}
		if (hlen > len - off)
			return -1;
		next = buf[off];
		off += hlen;
		if (!first_fragment) {
			/* Later fragments carry no transport header to read. */
			out->proto = next;
			return 0;
		}
	}
	return -1;
}

int
packet_parse(const uint8_t *buf, size_t len, struct flow *out)
{
	memset(out, 0, sizeof(*out));
	if (buf == NULL || len < 1)
		return -1;
	switch (buf[0] >> 4) {
	case 4:
		return parse_v4(buf, len, out);
	case 6:
		return parse_v6(buf, len, out);
	default:
		return -1;
	}
}

const char *
packet_proto_name(uint8_t proto, char *buf, size_t len)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "ipv6-icmp";
	case IPPROTO_SCTP:
		return "sctp";
	case IPPROTO_UDPLITE:
		return "udplite";
	case IPPROTO_GRE:
		return "gre";
	case IPPROTO_ESP:
		return "esp";
	case IPPROTO_AH:
		return "ah";
	default:
		snprintf(buf, len, "%u", proto);
		return buf;
	}
}
