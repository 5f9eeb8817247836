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

#define GATEIPC_VERSION 4
#define GATEIPC_MAX_ADDRS CONF_MAX_ADDRS
#define GATEIPC_COMM_MAX 16 /* TASK_COMM_LEN, with the NUL */
#define GATEIPC_EXE_MAX 256

enum gateipc_type {
	GATEIPC_ALLOW = 1,
	GATEIPC_ACK = 2,
	GATEIPC_WHO = 3,
	GATEIPC_WHO_REPLY = 4,
};

/* Why a WHO_REPLY names no process; the values of nfq/who.h's enum who_why
 * (gatesrv.c checks they agree). NOGATE is the resolver's own: the gate
 * did not answer. */
enum gateipc_why {
	GATEIPC_WHY_FOUND = 0,
	GATEIPC_WHY_GONE = 1,
	GATEIPC_WHY_DENIED = 2,
	GATEIPC_WHY_BUSY = 3,
	GATEIPC_WHY_TIMEOUT = 4,
	GATEIPC_WHY_NOHELPER = 5,
	GATEIPC_WHY_NONE = 6,
	GATEIPC_WHY_NOGATE = 7, /* never on the wire */
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

/*
 * WHO: which process holds the client socket of a denied DNS query, asked
 * before the reply is sent (the client closes its socket right after it).
 * client is the query's source, listen the resolver's address it came to;
 * the gate answers only for one of its config's listen addresses.
 */
struct gateipc_who {
	uint16_t type; /* GATEIPC_WHO */
	uint16_t version;
	uint32_t id;    /* echoed in the WHO_REPLY */
	uint8_t proto;  /* IPPROTO_UDP or IPPROTO_TCP */
	uint8_t family; /* AF_INET or AF_INET6, both addresses */
	uint16_t pad;
	uint16_t cport; /* host byte order, non-zero */
	uint16_t lport;
	uint8_t client[16]; /* network byte order; IPv4 in the first 4 bytes */
	uint8_t listen[16];
};

struct gateipc_who_reply {
	uint16_t type; /* GATEIPC_WHO_REPLY */
	uint16_t version;
	uint32_t id;
	int32_t pid;                 /* > 0 when why is FOUND, else -1 */
	uint32_t why;                /* enum gateipc_why, never NOGATE */
	char comm[GATEIPC_COMM_MAX]; /* NUL-terminated, NUL-padded; empty unless FOUND */
	char exe[GATEIPC_EXE_MAX];
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

/* -1 when proto, family or a port is out of range. */
int gateipc_who_init(struct gateipc_who *m, uint32_t id, uint8_t proto, int family,
                     const uint8_t *client, uint16_t cport, const uint8_t *listen, uint16_t lport);
/* comm and exe are cut to fit; they are dropped unless why is FOUND. */
void gateipc_who_reply_init(struct gateipc_who_reply *m, uint32_t id, enum gateipc_why why,
                            int32_t pid, const char *comm, const char *exe);
int gateipc_who_check(const void *buf, size_t len, const char **err);
int gateipc_who_reply_check(const void *buf, size_t len, const char **err);
/* The type of a message of len bytes (0 when too short for one). */
uint16_t gateipc_type(const void *buf, size_t len);
/* "found", "gone", "denied", "busy", "timeout", "nohelper", "none", "nogate" */
const char *gateipc_why_name(enum gateipc_why why);

#endif
