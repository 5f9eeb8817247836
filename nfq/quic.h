/*
 * The ClientHello inside a QUIC client's Initial packets (RFC 9000 17.2.2,
 * RFC 9001 5): the Initial keys come from the packet's Destination
 * Connection ID and a salt every endpoint knows (version 1, and version 2
 * of RFC 9369), so anyone on the path can read the CRYPTO frames and find
 * the server_name a server will route by. Decryption is OpenSSL's (HKDF,
 * AES-128-GCM, AES-128-ECB for header protection).
 *
 * Pure parsers of bytes the agent wrote: every read is bounds-checked, and
 * whatever a server could read otherwise than we do (an unknown version, a
 * frame an Initial may not carry, CRYPTO bytes that disagree, Initials of
 * two connections in one datagram) is QUIC_NOT_QUIC and denied.
 */
#ifndef NAMEGATE_QUIC_H
#define NAMEGATE_QUIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sni.h"

#define QUIC_VERSION_1 0x00000001u
#define QUIC_VERSION_2 0x6b3343cfu
#define QUIC_CID_MAX 20

struct quic_keys {
	uint32_t version;
	uint8_t key[16], iv[12], hp[16];
};

/* One client connection's Initial crypto stream, as far as the datagrams
 * carried it: at most SNI_MAX_BYTES, placed by offset. */
struct quic_conn {
	bool used;
	uint8_t dcid[QUIC_CID_MAX];
	size_t dcid_len;
	struct quic_keys keys; /* derived from dcid */
	size_t end;            /* one past the highest byte held */
	uint8_t buf[SNI_MAX_BYTES];
	uint8_t have[SNI_MAX_BYTES / 8];
};

/* What one datagram held. */
struct quic_seen {
	size_t initials; /* Initial packets that decrypted */
	size_t crypto;   /* CRYPTO frames with data among them */
	bool fresh;      /* conn was started anew for this datagram's DCID */
	bool from_zero;  /* a CRYPTO frame at offset 0 */
	bool opaque;     /* packets not read: 0-RTT, Handshake, an Initial under other keys */
	bool short_hdr;  /* a short-header (1-RTT) packet */
};

enum quic_result {
	QUIC_OK,
	QUIC_NOT_QUIC,
};

/* Derives a client's Initial keys. Returns 0, or -1 for an unknown version
 * or a failed OpenSSL call. */
int quic_initial_keys(uint32_t version, const uint8_t *dcid, size_t dcid_len,
                      struct quic_keys *out);

/* Adds one UDP payload from the client to conn: its Initial packets are
 * decrypted with conn's keys, else with their own DCID's, which starts conn
 * anew (a new connection). */
enum quic_result quic_datagram(struct quic_conn *conn, const uint8_t *p, size_t n,
                               struct quic_seen *seen);

/* The claim once conn holds a whole ClientHello and nothing past it;
 * SNI_MORE until then. */
enum sni_result quic_conn_hello(const struct quic_conn *conn, struct sni_claim *out);

/* One datagram alone, bytes -> name or reason (SNI_NOT_QUIC, or SNI_MORE
 * when the hello goes on in another datagram). For the unit tests and the
 * fuzzer. */
enum sni_result quic_parse(const uint8_t *p, size_t n, struct sni_claim *out);

#endif
