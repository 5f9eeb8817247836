/* Test helpers: a ClientHello with a chosen server_name, and client Initial
 * packets sealed with OpenSSL the way a QUIC client seals them (RFC 9001
 * 5), so tests can build what real clients send: hellos over several
 * datagrams, CRYPTO frames out of order, new connection IDs. The keys come
 * from quic_initial_keys, which the RFC's own packets check. */
#ifndef NAMEGATE_TEST_QUIC_SEAL_H
#define NAMEGATE_TEST_QUIC_SEAL_H

#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#include "quic.h"

/* A TLS 1.3 ClientHello (handshake message, no record layer): server_name
 * name (none if NULL), then a padding extension of pad bytes. */
static inline size_t
seal_hello(const char *name, size_t pad, uint8_t *out)
{
	size_t n = 0, ext, nl = name != NULL ? strlen(name) : 0, extstart;

	out[n++] = 1;
	n += 3; /* length, below */
	out[n++] = 3;
	out[n++] = 3;
	memset(out + n, 0x5a, 32);
	n += 32;
	out[n++] = 0;                     /* session id */
	out[n++] = 0, out[n++] = 2;       /* cipher suites */
	out[n++] = 0x13, out[n++] = 0x01; /* TLS_AES_128_GCM_SHA256 */
	out[n++] = 1, out[n++] = 0;       /* compression: null */
	extstart = n;
	n += 2;
	if (name != NULL) {
		out[n++] = 0, out[n++] = 0; /* server_name */
		out[n++] = (uint8_t)((nl + 5) >> 8), out[n++] = (uint8_t)(nl + 5);
		out[n++] = (uint8_t)((nl + 3) >> 8), out[n++] = (uint8_t)(nl + 3);
		out[n++] = 0;
		out[n++] = (uint8_t)(nl >> 8), out[n++] = (uint8_t)nl;
		memcpy(out + n, name, nl);
		n += nl;
	}
	out[n++] = 0, out[n++] = 0x15; /* padding */
	out[n++] = (uint8_t)(pad >> 8), out[n++] = (uint8_t)pad;
	memset(out + n, 0, pad);
	n += pad;
	ext = n - extstart - 2;
	out[extstart] = (uint8_t)(ext >> 8);
	out[extstart + 1] = (uint8_t)ext;
	out[1] = (uint8_t)((n - 4) >> 16);
	out[2] = (uint8_t)((n - 4) >> 8);
	out[3] = (uint8_t)(n - 4);
	return n;
}

/* A CRYPTO frame of len bytes at off. */
static inline size_t
seal_crypto(uint64_t off, const uint8_t *p, size_t len, uint8_t *out)
{
	out[0] = 0x06;
	out[1] = (uint8_t)(0x40 | off >> 8), out[2] = (uint8_t)off;
	out[3] = (uint8_t)(0x40 | len >> 8), out[4] = (uint8_t)len;
	memcpy(out + 5, p, len);
	return 5 + len;
}

/* A client Initial packet carrying frames, padded to fill a datagram of
 * 1200 bytes, sealed with the keys of dcid. Returns its length. */
static inline size_t
seal_initial(uint32_t version, const uint8_t *dcid, size_t dcid_len, uint32_t pn,
             const uint8_t *frames, size_t flen, uint8_t *out)
{
	static uint8_t plain[SNI_MAX_BYTES + 1200];
	struct quic_keys k;
	EVP_CIPHER_CTX *ctx;
	uint8_t nonce[12], mask[16];
	size_t h = 0, pn_off, plen, i;
	int n;

	if (quic_initial_keys(version, dcid, dcid_len, &k) < 0)
		return 0;
	out[h++] = (uint8_t)(0xc3 | (version == QUIC_VERSION_2 ? 0x10 : 0x00));
	for (i = 0; i < 4; i++)
		out[h++] = (uint8_t)(version >> (24 - 8 * i));
	out[h++] = (uint8_t)dcid_len;
	memcpy(out + h, dcid, dcid_len);
	h += dcid_len;
	out[h++] = 0; /* SCID */
	out[h++] = 0; /* token */
	plen = flen < 1200 - h - 2 - 4 - 16 ? 1200 - h - 2 - 4 - 16 : flen;
	out[h++] = (uint8_t)(0x40 | (4 + plen + 16) >> 8);
	out[h++] = (uint8_t)(4 + plen + 16);
	pn_off = h;
	for (i = 0; i < 4; i++)
		out[h++] = (uint8_t)(pn >> (24 - 8 * i));
	memcpy(nonce, k.iv, 12);
	for (i = 0; i < 4; i++)
		nonce[11 - i] ^= (uint8_t)(pn >> (8 * i));
	memcpy(plain, frames, flen);
	memset(plain + flen, 0, plen - flen);
	ctx = EVP_CIPHER_CTX_new();
	EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, k.key, nonce);
	EVP_EncryptUpdate(ctx, NULL, &n, out, (int)h);
	EVP_EncryptUpdate(ctx, out + h, &n, plain, (int)plen);
	EVP_EncryptFinal_ex(ctx, out + h + plen, &n);
	EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out + h + plen);
	EVP_CIPHER_CTX_free(ctx);
	ctx = EVP_CIPHER_CTX_new();
	EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, k.hp, NULL);
	EVP_EncryptUpdate(ctx, mask, &n, out + pn_off + 4, 16);
	EVP_CIPHER_CTX_free(ctx);
	out[0] ^= mask[0] & 0x0f;
	for (i = 0; i < 4; i++)
		out[pn_off + i] ^= mask[1 + i];
	return h + plen + 16;
}

#endif
