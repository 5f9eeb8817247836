/*
 * namegate status and namegate why: what is allowed right now and why a
 * flow would be denied. Pure but for the output stream: the caller feeds
 * in the set entries (the kernel's namegate4/namegate6, whose comment is
 * the allowlisted name each entry was handed out for, and whose timeout is
 * what is left of its TTL), the config and the log lines; this module
 * groups, decides and prints (aligned text, or JSON through json-c).
 *
 * Everything is bounded whatever the sets or the log hold: at most
 * STATUS_MAX_ENTRIES entries and STATUS_MAX_KEYS distinct keys per denial
 * grouping are kept, the rest counted.
 */
#ifndef NAMEGATE_STATUS_H
#define NAMEGATE_STATUS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"

#define STATUS_MAX_ENTRIES 262144  /* set entries kept for printing */
#define STATUS_MAX_KEYS 4096       /* distinct names, destinations, processes */
#define STATUS_DEFAULT_TOP 20      /* rows printed per denial grouping */
#define STATUS_LOG_TAIL (8u << 20) /* bytes of the log read: the recent part */

/* namegate why's exit status: a flow to it would be allowed now, or not. */
enum status_verdict { STATUS_ALLOWED = 0, STATUS_DENIED = 1 };

struct status;

/* c must outlive the status. NULL when out of memory. */
struct status *status_new(const struct conf *c);
void status_free(struct status *s);

/* One entry of namegate4/namegate6 (ipset_list_cb's arguments, as values):
 * family AF_INET or AF_INET6, ip in network byte order, timeout the seconds
 * left (0: none), comment the name (NULL: none). */
void status_add_entry(struct status *s, int family, const uint8_t *ip, uint8_t proto, uint16_t port,
                      uint32_t timeout, const char *comment);
/* One log line (logfmt or JSON): the denials are counted, the lookups
 * remembered for why ADDR ("expired"). 1 when it was used. */
int status_log_line(struct status *s, const char *line);
/* Where the log came from, for the output ("" / NULL: none read). */
void status_set_log(struct status *s, const char *path, bool cut);

/* namegate status: the allowed entries grouped by name and address, the
 * network lines, and the top denials by name, destination and process. */
int status_print(FILE *f, struct status *s, bool json, unsigned top);

/* namegate why: target is an address or a name, port NULL for every port.
 * Prints the verdict and the reasons; returns the verdict, or -1 with
 * *err set when target is neither an address nor a name. */
int status_why(FILE *f, struct status *s, const char *target, const struct port *port, bool json,
               const char **err);

#endif
