/*
 * The agent's socket filter: a seccomp program for everything the agent
 * runs, so that every socket it can open is one netfilter sees.
 *
 * Netfilter (the gate's rules) only ever sees IPv4 and IPv6. Other address
 * families reach the world on paths of their own: AF_VSOCK to the host or
 * hypervisor, AF_PACKET and AF_XDP below IP, AF_BLUETOOTH, AF_CAN, AF_TIPC,
 * AF_RDS, ... So the agent's socket() may create AF_UNIX, AF_INET, AF_INET6
 * and a few netlink protocols, and nothing else.
 *
 *   another architecture, or the x32 ABI          -> the process is killed
 *   socket(AF_UNIX)                               -> allowed
 *   socket(AF_INET, SOCK_PACKET)                  -> EAFNOSUPPORT (a packet socket)
 *   socket(AF_INET or AF_INET6)                   -> allowed
 *   socket(AF_NETLINK, ROUTE|SOCK_DIAG|UEVENT|GENERIC) -> allowed
 *   socket(AF_NETLINK, another protocol)          -> EPROTONOSUPPORT
 *   socket(any other family)                      -> EAFNOSUPPORT
 *   socketpair(other than AF_UNIX)                -> EAFNOSUPPORT
 *   io_uring_setup/enter/register                 -> ENOSYS (IORING_OP_SOCKET
 *                                                    creates sockets without socket(2))
 *   anything else                                 -> allowed
 *
 * Refusals are errnos, not kills: programs that probe for a family (or for
 * io_uring) see "not supported" and carry on.
 */
#ifndef NAMEGATE_SOCKFILTER_H
#define NAMEGATE_SOCKFILTER_H

#include <linux/filter.h>
#include <stddef.h>

/* The largest program sockfilter_build writes. */
#define SOCKFILTER_MAX_INSNS 64

/* Writes the program into v (room for max instructions). Returns how many
 * instructions it has, or -1 when this architecture has no filter (the
 * caller then must not run the agent) or it does not fit. Pure. */
int sockfilter_build(struct sock_filter *v, size_t max);

/* Sets no_new_privs and installs the filter for this process and all it
 * starts. Returns 0, or -1 with errno set (ENOSYS: no filter for this
 * architecture). */
int sockfilter_enter(void);

#endif
