/*
 * The name a connection claims in its first client bytes: the server_name of
 * a TLS ClientHello, or the Host header of an HTTP/1 request. Pure parsers of
 * bytes the agent wrote: every read is bounds-checked, nothing is trusted,
 * and whatever is not clearly one well-formed hello or request is an error
 * (the caller denies it).
 */
#ifndef NAMEGATE_SNI_H
#define NAMEGATE_SNI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pattern.h"

/* The first flight is judged within this many bytes; a ClientHello with
 * post-quantum key shares is about 1.8 KiB, a request's headers rarely 8. */
#define SNI_MAX_BYTES 16384

enum sni_result {
	SNI_OK,       /* name holds the claimed name */
	SNI_MORE,     /* a well-formed beginning: the rest is still to come */
	SNI_NONE,     /* a ClientHello without server_name */
	SNI_NOT_TLS,  /* not a ClientHello, or one we do not read the same way a server would */
	SNI_NO_HOST,  /* an HTTP request without exactly one usable Host */
	SNI_NOT_HTTP, /* not an HTTP/1 request in origin form */
	SNI_NOT_QUIC, /* not QUIC Initial packets as a server reads them (quic.h) */
};

struct sni_claim {
	/* Lower case, no trailing dot; a byte that cannot be in a host name
	 * is '?', so the name can match nothing and is safe to log. */
	char name[NAME_MAX_LEN + 2];
	bool ech; /* the hello carries encrypted_client_hello */
};

enum sni_result sni_parse_tls(const uint8_t *buf, size_t len, struct sni_claim *out);
/* One handshake message (type, 24-bit length, body) of exactly len bytes,
 * as a QUIC CRYPTO stream carries it, without the record layer. */
enum sni_result sni_parse_handshake(const uint8_t *hs, size_t len, struct sni_claim *out);
enum sni_result sni_parse_http(const uint8_t *buf, size_t len, struct sni_claim *out);

#endif
