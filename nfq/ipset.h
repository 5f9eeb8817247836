/*
 * Kernel ipsets over libmnl (NFNL_SUBSYS_IPSET): create, add in batches,
 * swap, destroy. Every request carries NLM_F_ACK and a sequence number and
 * the kernel's answer is checked; every refusal is logged with the set name
 * and a readable reason. ipset_batch_* sends the ADDs of many callers'
 * requests in one exchange and tells which of them the kernel refused.
 */
#ifndef NAMEGATE_IPSET_H
#define NAMEGATE_IPSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ipset_entry {
	int family;     /* AF_INET or AF_INET6, the set's family */
	uint8_t ip[16]; /* network byte order */
	uint8_t cidr;   /* 0 for hash:ip,port; the prefix for hash:net,port */
	uint8_t proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t port;  /* host byte order */
};

struct ipset_nl;

/* Opens the netlink socket and checks that the kernel speaks ipset.
 * NULL after logging why (no CONFIG_IP_SET, no CAP_NET_ADMIN, ...). */
struct ipset_nl *ipset_open(void);
void ipset_close(struct ipset_nl *h);

/* Create the set unless one of that name exists with the same type and
 * options; one with a different type or options is an error. with_timeout
 * gives entries a timeout (default 0 = none unless given per entry). */
int ipset_create(struct ipset_nl *h, const char *name, const char *type, int family,
                 uint32_t maxelem, bool with_timeout, bool with_comment);

/* Add (or refresh: timeout and comment are rewritten) n entries of family.
 * timeout 0 sends none; comment NULL sends none. The entries go in as few
 * messages as the netlink buffer allows, usually one. Returns 0 or -1. */
int ipset_add(struct ipset_nl *h, const char *name, int family, const struct ipset_entry *v,
              size_t n, uint32_t timeout, const char *comment);

/* Delete n entries of family; entries that are not in the set are skipped.
 * Returns 0 or -1. */
int ipset_del(struct ipset_nl *h, const char *name, int family, const struct ipset_entry *v,
              size_t n);

/*
 * A batch of ADDs for nreq requests (a request: any number of ipset_batch_add
 * calls under one index, for any sets). ipset_batch_begin sets ok[0..nreq)
 * to true; ipset_batch_add turns the entries into messages right away (so v
 * and comment need not outlive the call) and sends what is built so far
 * whenever the netlink buffer is full; ipset_batch_commit sends the rest and
 * reads the kernel's answer to every message. ok[req] ends false if any
 * message of request req was refused or went unanswered (each logged, with
 * the set name); the kernel may then hold part of its entries, for the
 * caller to delete again. Between begin and commit no other ipset_ call may
 * use h, and ok must stay valid. commit returns 0 if every request went in,
 * -1 if any did not.
 */
void ipset_batch_begin(struct ipset_nl *h, bool *ok, size_t nreq);
void ipset_batch_add(struct ipset_nl *h, size_t req, const char *name, int family,
                     const struct ipset_entry *v, size_t n, uint32_t timeout, const char *comment);
int ipset_batch_commit(struct ipset_nl *h);

/* Every entry of set name (hash:ip,port of family): cb gets it, the
 * seconds its timeout still has to run as the kernel reports them (0 =
 * none) and its comment (NULL = none). Returns 0 or -1. */
typedef void (*ipset_list_cb)(void *arg, const struct ipset_entry *e, uint32_t timeout,
                              const char *comment);
int ipset_list(struct ipset_nl *h, const char *name, int family, ipset_list_cb cb, void *arg);

int ipset_swap(struct ipset_nl *h, const char *a, const char *b);
/* Empty a set, keeping it (and the rules that use it). */
int ipset_flush(struct ipset_nl *h, const char *name);
/* missing_ok: a set that does not exist is not an error. */
int ipset_destroy(struct ipset_nl *h, const char *name, bool missing_ok);

#endif
