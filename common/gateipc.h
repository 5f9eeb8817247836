/*
 * The messages between namegate-resolver and namegate-nfq over the gate's
 * unix socket (SOCK_SEQPACKET, so one send is one message). ACK is fixed
 * size; ALLOW carries only the address slots it uses, so its length is
 * exactly gateipc_allow_len. The receiver checks type, version and exact
 * length before looking at anything else, then every field
 * (gateipc_*_check).
 *
 * The resolver sends ALLOW for every answer it is about to relay; the gate
 * adds the addresses to its sets in one netlink exchange and sends ACK with
 * the same id only after the kernel acknowledged. The gate does not trust the
 * resolver with ports: it looks the name up in its own config.
 */
#ifndef NAMEGATE_GATEIPC_H
#define NAMEGATE_GATEIPC_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "pattern.h"

#define GATEIPC_VERSION 3
#define GATEIPC_MAX_ADDRS CONF_MAX_ADDRS

enum gateipc_type {
	GATEIPC_ALLOW = 1,
	GATEIPC_ACK = 2,
};

enum gateipc_status {
	GATEIPC_OK = 0,
	GATEIPC_ERR_NOT_ALLOWED = 1, /* the name is not on the gate's allowlist */
	GATEIPC_ERR_KERNEL = 2,      /* the kernel refused (set missing, full, ...) */
	GATEIPC_ERR_BAD_MESSAGE = 3,
};

struct gateipc_addr {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t pad[3];
	uint8_t ip[16];
};

struct gateipc_allow {
	uint16_t type;    /* GATEIPC_ALLOW */
	uint16_t version; /* GATEIPC_VERSION */
	uint32_t id;      /* echoed in the ACK */
	uint32_t ttl;     /* seconds the entries stay; the gate clamps it again */
	uint16_t naddrs;  /* 1..GATEIPC_MAX_ADDRS */
	uint16_t pad;
	char name[NAME_MAX_LEN + 3]; /* normalized, NUL-terminated, NUL-padded */
	struct gateipc_addr addrs[GATEIPC_MAX_ADDRS];
};

struct gateipc_ack {
	uint16_t type; /* GATEIPC_ACK */
	uint16_t version;
	uint32_t id;
	uint32_t status; /* enum gateipc_status */
	/* Moves on whenever the gate took entries out of the sets before
	 * their timeout (to bound a line, or taking back a failed request):
	 * an earlier ACK may no longer hold when it changed. */
	uint32_t removals;
};

/* Build: zeroes the whole message first, so no stack bytes leak. name must
 * be normalized; returns -1 if it is not or if naddrs is out of range. */
int gateipc_allow_init(struct gateipc_allow *m, uint32_t id, const char *name, uint32_t ttl);
int gateipc_allow_add(struct gateipc_allow *m, int family, const uint8_t *ip);
void gateipc_ack_init(struct gateipc_ack *m, uint32_t id, enum gateipc_status status,
                      uint32_t removals);
/* The bytes of m that go on the wire: the header and m->naddrs slots. */
size_t gateipc_allow_len(const struct gateipc_allow *m);

/* Validate received bytes. Returns 0, or -1 with *err saying what is wrong
 * (wrong length, type, version, naddrs, unterminated or malformed name,
 * unknown family, non-zero padding). An ALLOW that passed may be read as a
 * struct gateipc_allow up to its naddrs slots; the slots after them are not
 * part of the message. */
int gateipc_allow_check(const void *buf, size_t len, const char **err);
int gateipc_ack_check(const void *buf, size_t len, const char **err);

#endif
