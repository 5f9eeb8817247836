/*
 * The names and numbers the gate shares with the kernel: the ipsets it
 * fills, the iptables chains it owns, and the packet and connection marks
 * that carry a decision between the rules and the gate. rules.c writes
 * them into the rule text, the rest of nfq/ reads or sets them; the kernel
 * only ever compares them, so each is spelled here once for the C side.
 *
 * Spelled again, by hand, where C cannot reach (change them together):
 * - docker/namegate-up, docker/namegate-probe, docker/namegate-kube:
 *   "iptables -C OUTPUT -j NAMEGATE" (is the gate's jump in place);
 * - docker/namegate-up, docker/namegate-cutflows.sh: "ipset test
 *   namegate4 / namegate-net4 / namegate6 / namegate-net6" (would the
 *   rules let this flow out);
 * - tests/lab/tests_*.py, tests/docker/run, bench/bench.py: the set, chain and
 *   mark names in their assertions;
 * - docs/internals.md ("Kernel state owned by namegate-nfq", "The SNI /
 *   Host binding"), README.md and man/namegate-nfq.8.scd.
 *
 * The queue number is not fixed here: it is [gate] queue (conf.h, default
 * 0), and every NFQUEUE rule and the queue bind take it from the config.
 */
#ifndef NAMEGATE_KERNEL_H
#define NAMEGATE_KERNEL_H

/* Chains of the filter table that belong to namegate. OUTPUT jumps to
 * KERNEL_CHAIN and INPUT to KERNEL_CHAIN_IN; the others are reached from
 * these. */
#define KERNEL_CHAIN "NAMEGATE"
#define KERNEL_CHAIN_DNS "NAMEGATE-DNS"
#define KERNEL_CHAIN_DNAT "NAMEGATE-DNAT"
#define KERNEL_CHAIN_IN "NAMEGATE-IN"
#define KERNEL_CHAIN_BIND "NAMEGATE-BIND"
#define KERNEL_CHAIN_PEND "NAMEGATE-PEND"

/* The sets: what the resolver handed out (address, proto:port, timeout,
 * the name as comment) and the static network lines, one of each per
 * family. A reload fills <netset>-tmp and swaps it in whole. */
#define KERNEL_SET4 "namegate4"
#define KERNEL_SET6 "namegate6"
#define KERNEL_NETSET4 "namegate-net4"
#define KERNEL_NETSET6 "namegate-net6"
#define KERNEL_NETSET4_TMP KERNEL_NETSET4 "-tmp"
#define KERNEL_NETSET6_TMP KERNEL_NETSET6 "-tmp"
#define KERNEL_SET_TYPE "hash:ip,port"
#define KERNEL_NETSET_TYPE "hash:net,port"

/* Packet marks (docs/internals.md). */
#define KERNEL_MARK_DNS 0x4e470001u     /* set by NAMEGATE-DNS before queueing */
#define KERNEL_MARK_DENY 0x4e470002u    /* set by the gate: the rules reject it */
#define KERNEL_MARK_INBOUND 0x4e470003u /* set by NAMEGATE-IN: a new inbound flow */
/* The SNI / Host binding (nfq/bind.h). Connection marks: */
#define KERNEL_CT_PENDING 0x4e470010u /* no client payload judged yet */
#define KERNEL_CT_PARTIAL 0x4e470011u /* a first flight under way, its bytes in the gate */
#define KERNEL_CT_MASK 0xfffffffeu    /* matches both */
#define KERNEL_CT_CHECKED 0x4e470012u /* judged: the kernel accepts the rest */
/* Packet marks: NAMEGATE-BIND sets these before queueing ... */
#define KERNEL_MARK_BIND_FIRST 0x4e470020u /* of a PENDING connection */
#define KERNEL_MARK_BIND_MORE 0x4e470021u  /* of a PARTIAL connection */
/* ... and the gate these with NF_REPEAT, which the rules turn into the
 * connection marks above. */
#define KERNEL_MARK_BIND_OK 0x4e470022u
#define KERNEL_MARK_BIND_PART 0x4e470023u
/* A long-header datagram of a CHECKED QUIC flow: a new connection's
 * Initial may ride on a flow already judged (QUIC demultiplexes by
 * connection ID, not by addresses and ports). */
#define KERNEL_MARK_BIND_QUIC 0x4e470024u

#endif
