/*
 * Parsing of the packets the kernel queues to the gate. The bytes come from
 * sandboxed processes, so every read is bounds-checked; anything that cannot
 * be parsed is an error and the caller denies the packet.
 */
#ifndef NAMEGATE_PACKET_H
#define NAMEGATE_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct flow {
	int family;      /* AF_INET or AF_INET6 */
	uint8_t proto;   /* IPPROTO_*, after IPv6 extension headers */
	uint8_t src[16]; /* network byte order; IPv4 uses the first 4 bytes */
	uint8_t dst[16];
	bool has_ports;        /* TCP/UDP header present (not a later fragment) */
	uint16_t sport, dport; /* host byte order; 0 unless has_ports */
	/* TCP only, when the whole header is there: the sequence number and
	 * where the payload starts in the buffer and how long it is (what the
	 * buffer holds of it, up to the IP length). */
	bool has_tcp;
	bool has_udp; /* the whole UDP header is there; payload_* as for TCP */
	bool syn;     /* its first data byte is seq + 1 (TCP Fast Open) */
	uint32_t seq;
	size_t payload_off, payload_len;
};

/* buf holds the packet from its IP header on, possibly cut short by the
 * queue's copy range. Returns 0, or -1 if it is malformed or too short to
 * find the transport header. */
int packet_parse(const uint8_t *buf, size_t len, struct flow *out);

/* "tcp", "udp", "icmp", "ipv6-icmp", ... or the number as text. */
const char *packet_proto_name(uint8_t proto, char *buf, size_t len);

#endif
