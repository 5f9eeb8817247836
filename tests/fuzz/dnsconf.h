/*
 * The fixed configs the DNS fuzz targets run with: a small allowlist with
 * every kind of pattern, a low max_addrs so the limit is reached, and the
 * same in audit mode.
 */
#ifndef NAMEGATE_FUZZ_DNSCONF_H
#define NAMEGATE_FUZZ_DNSCONF_H

#define FUZZ_DNS_CONF(mode)                                                                        \
	"[resolver]\n"                                                                             \
	"listen = 127.0.0.1:53\n"                                                                  \
	"upstream = 192.0.2.53\n"                                                                  \
	"min_ttl = 30\n"                                                                           \
	"max_ttl = 3600\n"                                                                         \
	"max_addrs = 8\n"                                                                          \
	"[gate]\n"                                                                                 \
	"mode = " mode "\n"                                                                        \
	"[log]\n"                                                                                  \
	"file =\n"                                                                                 \
	"[allow]\n"                                                                                \
	"domain = www.lab.test\n"                                                                  \
	"domain = alias.lab.test\n"                                                                \
	"domain = svc.lab.test\n"                                                                  \
	"domain = multi.lab.test\n"                                                                \
	"domain = *.wild.test\n"                                                                   \
	"domain = .apex.test tcp/22 udp/443\n"                                                     \
	"domain = x.apex.test inward\n"

#endif
