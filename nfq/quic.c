/* The ClientHello in a QUIC client's Initial packets. Pure. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <string.h>

#include "quic.h"

#define LONG_HEADER 0x80
#define TAG_LEN 16
#define SAMPLE_LEN 16
#define SECRET_LEN 32
/* The packet types of the long header (bits 4-5 of the first byte) differ
 * between the versions (RFC 9369 3.2). */
enum ptype { P_INITIAL, P_ZERO_RTT, P_HANDSHAKE, P_RETRY };

/* A UDP payload is at most this (without GSO, which the queue sees as
 * several packets' worth of bytes; a longer one is not read). */
#define QUIC_DATAGRAM_MAX 65536

#define FRAME_PADDING 0x00
#define FRAME_PING 0x01
#define FRAME_ACK 0x02
#define FRAME_ACK_ECN 0x03
#define FRAME_CRYPTO 0x06
#define FRAME_CLOSE 0x1c

static const uint8_t salt_v1[] = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
                                  0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};
static const uint8_t salt_v2[] = {0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
                                  0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9};

/* A read cursor: every get checks what is left first. */
struct cur {
	const uint8_t *p;
	size_t len, pos;
};

static bool
get8(struct cur *c, uint8_t *v)
{
	if (c->len - c->pos < 1)
		return false;
	*v = c->p[c->pos++];
	return true;
}

/* A variable-length integer (RFC 9000 16). */
static bool
getvar(struct cur *c, uint64_t *v)
{
	size_t n, i;

	if (c->len - c->pos < 1)
		return false;
	n = (size_t)1 << (c->p[c->pos] >> 6);
	if (c->len - c->pos < n)
		return false;
	*v = c->p[c->pos] & 0x3f;
	for (i = 1; i < n; i++)
		*v = *v << 8 | c->p[c->pos + i];
	c->pos += n;
	return true;
}

static bool
skip(struct cur *c, uint64_t n)
{
	if (n > c->len - c->pos)
		return false;
	c->pos += (size_t)n;
	return true;
}

static int
hkdf(int mode, const uint8_t *salt, size_t saltlen, const uint8_t *key, size_t keylen,
     const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen)
{
	static EVP_KDF *kdf;
	EVP_KDF_CTX *ctx;
	OSSL_PARAM params[6], *p = params;
	int ok;

	/* Fetched once: the lookup costs more than the derivation. */
	if (kdf == NULL && (kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL)) == NULL)
		return -1;
	if ((ctx = EVP_KDF_CTX_new(kdf)) == NULL)
		return -1;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, keylen);
	if (salt != NULL)
		*p++ =
		    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
	if (info != NULL)
		*p++ =
		    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen);
	*p = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(ctx, out, outlen, params);
	EVP_KDF_CTX_free(ctx);
	return ok == 1 ? 0 : -1;
}

/* HKDF-Expand-Label of TLS 1.3 (RFC 8446 7.1), with an empty context. */
static int
expand_label(const uint8_t *secret, const char *label, uint8_t *out, size_t outlen)
{
	uint8_t info[2 + 1 + 255 + 1];
	size_t ll = strlen(label), n = 0;

	if (6 + ll > 255)
		return -1;
	info[n++] = (uint8_t)(outlen >> 8);
	info[n++] = (uint8_t)outlen;
	info[n++] = (uint8_t)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, ll);
	n += ll;
	info[n++] = 0;
	return hkdf(EVP_KDF_HKDF_MODE_EXPAND_ONLY, NULL, 0, secret, SECRET_LEN, info, n, out,
	            outlen);
}

int
quic_initial_keys(uint32_t version, const uint8_t *dcid, size_t dcid_len, struct quic_keys *out)
{
	uint8_t initial[SECRET_LEN], client[SECRET_LEN];
	bool v2 = version == QUIC_VERSION_2;
	int rc = -1;

	if (version != QUIC_VERSION_1 && version != QUIC_VERSION_2)
		return -1;
	out->version = version;
	if (hkdf(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, v2 ? salt_v2 : salt_v1, sizeof(salt_v1), dcid,
	         dcid_len, NULL, 0, initial, sizeof(initial)) == 0 &&
	    expand_label(initial, "client in", client, sizeof(client)) == 0 &&
	    expand_label(client, v2 ? "quicv2 key" : "quic key", out->key, sizeof(out->key)) == 0 &&
	    expand_label(client, v2 ? "quicv2 iv" : "quic iv", out->iv, sizeof(out->iv)) == 0 &&
	    expand_label(client, v2 ? "quicv2 hp" : "quic hp", out->hp, sizeof(out->hp)) == 0)
		rc = 0;
	OPENSSL_cleanse(initial, sizeof(initial));
	OPENSSL_cleanse(client, sizeof(client));
	return rc;
}

static int
hp_mask(const struct quic_keys *k, const uint8_t *sample, uint8_t mask[SAMPLE_LEN])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, ok;

	if (ctx == NULL)
		return -1;
	ok = EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, k->hp, NULL) == 1 &&
	     EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
	     EVP_EncryptUpdate(ctx, mask, &n, sample, SAMPLE_LEN) == 1 && n == SAMPLE_LEN;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* AES-128-GCM open; false when the tag does not match (other keys). */
static bool
aead_open(const struct quic_keys *k, uint64_t pn, const uint8_t *aad, size_t aadlen,
          const uint8_t *ct, size_t ctlen, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t nonce[12];
	int n = 0, fin = 0;
	bool ok;
	size_t i;

	if (ctx == NULL || ctlen < TAG_LEN || ctlen - TAG_LEN > INT32_MAX) {
		EVP_CIPHER_CTX_free(ctx);
		return false;
	}
	memcpy(nonce, k->iv, sizeof(nonce));
	for (i = 0; i < 8; i++)
		nonce[sizeof(nonce) - 1 - i] ^= (uint8_t)(pn >> (8 * i));
	ok = EVP_DecryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, k->key, nonce) == 1 &&
	     EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1 &&
	     EVP_DecryptUpdate(ctx, out, &n, ct, (int)(ctlen - TAG_LEN)) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
	                         (void *)(ct + ctlen - TAG_LEN)) == 1 &&
	     EVP_DecryptFinal_ex(ctx, out + n, &fin) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

/* Removes header protection and the AEAD from one Initial packet: hdr is
 * the packet up to its packet number (pn_off bytes), body the Length bytes
 * after that. Writes the frames to out; false if they do not open. */
static bool
open_initial(const struct quic_keys *k, const uint8_t *pkt, size_t pn_off, size_t length,
             uint8_t *out, size_t *outlen)
{
	static uint8_t hdr[QUIC_DATAGRAM_MAX];
	uint8_t mask[SAMPLE_LEN];
	size_t pnlen, i;
	uint64_t pn = 0;

	/* The sample starts 4 bytes into the packet number field, wherever
	 * the number ends; at least 4 + 16 bytes must be there. */
	if (length < 4 + SAMPLE_LEN || pn_off + 4 > sizeof(hdr))
		return false;
	if (hp_mask(k, pkt + pn_off + 4, mask) < 0)
		return false;
	memcpy(hdr, pkt, pn_off);
	hdr[0] ^= mask[0] & 0x0f;
	pnlen = (size_t)(hdr[0] & 0x03) + 1;
	for (i = 0; i < pnlen; i++) {
		hdr[pn_off + i] = pkt[pn_off + i] ^ mask[1 + i];
		pn = pn << 8 | hdr[pn_off + i];
	}
	if (!aead_open(k, pn, hdr, pn_off + pnlen, pkt + pn_off + pnlen, length - pnlen, out))
		return false;
	/* The reserved bits, protected too, must be zero once it opened. */
	if ((hdr[0] & 0x0c) != 0)
		return false;
	*outlen = length - pnlen - TAG_LEN;
	return true;
}

/* Places CRYPTO bytes; bytes already held must be the same. */
static bool
conn_add(struct quic_conn *c, uint64_t off, const uint8_t *p, size_t n)
{
	size_t i, o;

	if (off > SNI_MAX_BYTES || n > SNI_MAX_BYTES - off)
		return false;
	for (i = 0; i < n; i++) {
		o = (size_t)off + i;
		if (c->have[o / 8] & (1u << (o % 8))) {
			if (c->buf[o] != p[i])
				return false;
		} else {
			c->buf[o] = p[i];
			c->have[o / 8] |= (uint8_t)(1u << (o % 8));
		}
	}
	if (n > 0 && (size_t)off + n > c->end)
		c->end = (size_t)off + n;
	return true;
}

/* The frames of an opened Initial: only those RFC 9000 12.4 allows there. */
static bool
frames(struct quic_conn *c, const uint8_t *p, size_t n, struct quic_seen *seen)
{
	struct cur f = {p, n, 0};
	uint64_t v, off, len, count, i;
	uint8_t type;

	while (f.pos < f.len) {
		if (!get8(&f, &type))
			return false;
		switch (type) {
		case FRAME_PADDING:
		case FRAME_PING:
			break;
		case FRAME_ACK:
		case FRAME_ACK_ECN:
			/* largest, delay, range count, first range; then gap and
			 * length per range; the ECN counts */
			if (!getvar(&f, &v) || !getvar(&f, &v) || !getvar(&f, &count) ||
			    !getvar(&f, &v) || count > f.len)
				return false;
			for (i = 0; i < count; i++)
				if (!getvar(&f, &v) || !getvar(&f, &v))
					return false;
			if (type == FRAME_ACK_ECN &&
			    (!getvar(&f, &v) || !getvar(&f, &v) || !getvar(&f, &v)))
				return false;
			break;
		case FRAME_CRYPTO:
			if (!getvar(&f, &off) || !getvar(&f, &len) || len > f.len - f.pos)
				return false;
			if (!conn_add(c, off, f.p + f.pos, (size_t)len))
				return false;
			if (len > 0) {
				seen->crypto++;
				if (off == 0)
					seen->from_zero = true;
			}
			f.pos += (size_t)len;
			break;
		case FRAME_CLOSE:
			if (!getvar(&f, &v) || !getvar(&f, &v) || !getvar(&f, &len) ||
			    !skip(&f, len))
				return false;
			break;
		default:
			return false;
		}
	}
	return true;
}

static enum ptype
packet_type(uint32_t version, uint8_t first)
{
	unsigned t = (first >> 4) & 0x03;

	/* v2 rotates them: Retry 0, Initial 1, 0-RTT 2, Handshake 3. */
	if (version == QUIC_VERSION_2)
		t = (t + 3) & 0x03;
	return (enum ptype)t;
}

static void
conn_start(struct quic_conn *c, const uint8_t *dcid, size_t dcid_len, const struct quic_keys *k)
{
	memset(c, 0, sizeof(*c));
	c->used = true;
	memcpy(c->dcid, dcid, dcid_len);
	c->dcid_len = dcid_len;
	c->keys = *k;
}

/* One Initial packet (pkt: its first byte; pn_off, length: where its
 * packet number starts and the Length field). */
static enum quic_result
initial(struct quic_conn *c, uint32_t version, const uint8_t *pkt, size_t pn_off, size_t length,
        const uint8_t *dcid, size_t dcid_len, struct quic_seen *seen)
{
	static uint8_t plain[QUIC_DATAGRAM_MAX];
	struct quic_keys k;
	size_t n;

	if (length > sizeof(plain))
		return QUIC_NOT_QUIC;

	/* Under the keys of the connection under way first: once the server
	 * answered, the client writes to the server's connection ID but
	 * keeps the keys of its first one. */
	if (c->used && c->keys.version == version &&
	    open_initial(&c->keys, pkt, pn_off, length, plain, &n))
		goto opened;
	if (quic_initial_keys(version, dcid, dcid_len, &k) < 0 ||
	    !open_initial(&k, pkt, pn_off, length, plain, &n)) {
		/* Neither: a server opens it only for a connection it knows. */
		seen->opaque = true;
		return QUIC_OK;
	}
	/* A new connection; two in one datagram: which one would the
	 * server take? */
	if (seen->fresh)
		return QUIC_NOT_QUIC;
	conn_start(c, dcid, dcid_len, &k);
	seen->fresh = true;
opened:
	seen->initials++;
	return frames(c, plain, n, seen) ? QUIC_OK : QUIC_NOT_QUIC;
}

enum quic_result
quic_datagram(struct quic_conn *c, const uint8_t *p, size_t n, struct quic_seen *seen)
{
	struct cur d = {p, n, 0};

	memset(seen, 0, sizeof(*seen));
	if (n == 0)
		return QUIC_NOT_QUIC;
	/* Coalesced packets (RFC 9000 12.2), each long header with its
	 * Length; a short header takes the rest of the datagram. */
	while (d.pos < d.len) {
		size_t start = d.pos, pn_off;
		uint8_t first, dcil, scil;
		const uint8_t *dcid;
		uint32_t version = 0;
		uint64_t v, length;
		size_t i;
		enum ptype t;

		first = p[start];
		if (!(first & LONG_HEADER)) {
			seen->short_hdr = true;
			break;
		}
		d.pos++;
		if (d.len - d.pos < 4)
			return QUIC_NOT_QUIC;
		for (i = 0; i < 4; i++)
			version = version << 8 | p[d.pos + i];
		d.pos += 4;
		/* A client sends version negotiation never, and a version we
		 * do not know would be read by a server that does. */
		if (version != QUIC_VERSION_1 && version != QUIC_VERSION_2)
			return QUIC_NOT_QUIC;
		if (!get8(&d, &dcil) || dcil > QUIC_CID_MAX || !skip(&d, dcil))
			return QUIC_NOT_QUIC;
		dcid = p + d.pos - dcil;
		if (!get8(&d, &scil) || scil > QUIC_CID_MAX || !skip(&d, scil))
			return QUIC_NOT_QUIC;
		t = packet_type(version, first);
		if (t == P_RETRY)
			return QUIC_NOT_QUIC;
		if (t == P_INITIAL && (!getvar(&d, &v) || !skip(&d, v))) /* token */
			return QUIC_NOT_QUIC;
		if (!getvar(&d, &length) || length > d.len - d.pos)
			return QUIC_NOT_QUIC;
		pn_off = d.pos - start;
		d.pos += (size_t)length;
		if (t != P_INITIAL) {
			seen->opaque = true;
			continue;
		}
		/* RFC 9000 14.1: a server drops an Initial in a datagram of
		 * fewer than 1200 bytes, but one that does not is no reason to
		 * let it pass unread. */
		if (initial(c, version, p + start, pn_off, (size_t)length, dcid, dcil, seen) !=
		    QUIC_OK)
			return QUIC_NOT_QUIC;
	}
	return QUIC_OK;
}

enum sni_result
quic_conn_hello(const struct quic_conn *c, struct sni_claim *out)
{
	size_t total, i;

	memset(out, 0, sizeof(*out));
	if (!c->used || c->end == 0)
		return SNI_MORE;
	if ((c->have[0] & 1) && c->buf[0] != 1) /* ClientHello */
		return SNI_NOT_TLS;
	if ((c->have[0] & 0x0f) != 0x0f)
		return SNI_MORE;
	total = 4 + ((size_t)c->buf[1] << 16 | (size_t)c->buf[2] << 8 | c->buf[3]);
	/* The Initial crypto stream of a client holds the hello alone. */
	if (total > SNI_MAX_BYTES || c->end > total)
		return SNI_NOT_TLS;
	for (i = 0; i < total; i++)
		if (!(c->have[i / 8] & (1u << (i % 8))))
			return SNI_MORE;
	return sni_parse_handshake(c->buf, total, out);
}

enum sni_result
quic_parse(const uint8_t *p, size_t n, struct sni_claim *out)
{
	static struct quic_conn c;
	struct quic_seen seen;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	if (quic_datagram(&c, p, n, &seen) != QUIC_OK || seen.initials == 0 || !seen.from_zero)
		return SNI_NOT_QUIC;
	return quic_conn_hello(&c, out);
}
