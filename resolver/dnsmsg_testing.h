/*
 * For unit tests and fuzzers only (dnsmsg.c built with -DDNSMSG_TESTING):
 * the classic path of a cache hit, aging the parsed answer and filtering it
 * with the max_ttl cap, which the resolver no longer takes. It stays as the
 * independent result the template path (dnsmsg_filter_answer_raw,
 * dnsmsg_reply_ttls, dnsmsg_reply_age) must match byte for byte.
 */
#ifndef NAMEGATE_DNSMSG_TESTING_H
#define NAMEGATE_DNSMSG_TESTING_H

#include "dnsmsg.h"

#ifdef DNSMSG_TESTING
/* dnsmsg_filter_answer_raw, with every kept record's TTL capped at max_ttl
 * and out->ttl clamped to [min_ttl, max_ttl]. */
void dnsmsg_filter_answer(ldns_pkt *pkt, const struct dnsmsg_query *q, const struct conf *c,
                          struct dnsmsg_addrs *out);
/* Lowers every TTL in pkt by age seconds (cache hits). */
void dnsmsg_age(ldns_pkt *pkt, uint32_t age);
#endif

#endif
