/* The claimed name of a first flight: TLS server_name, HTTP Host. Pure. */
#include <string.h>

#include "sni.h"

#define TLS_CONTENT_HANDSHAKE 22
#define TLS_HS_CLIENT_HELLO 1
#define TLS_RECORD_MAX 16384 /* a TLSPlaintext fragment, at most 2^14 */
#define TLS_EXT_SERVER_NAME 0
#define TLS_EXT_ECH 0xfe0d
#define SNI_HOST_NAME 0

/* A read cursor: every get checks what is left first. */
struct cur {
	const uint8_t *p;
	size_t len, pos;
};

static bool
get8(struct cur *c, size_t *v)
{
	if (c->len - c->pos < 1)
		return false;
	*v = c->p[c->pos++];
	return true;
}

static bool
get16(struct cur *c, size_t *v)
{
	if (c->len - c->pos < 2)
		return false;
	*v = (size_t)c->p[c->pos] << 8 | c->p[c->pos + 1];
	c->pos += 2;
	return true;
}

static bool
skip(struct cur *c, size_t n)
{
	if (n > c->len - c->pos)
		return false;
	c->pos += n;
	return true;
}

/* Copies a host name claim, lower-cased, without one trailing dot; bytes
 * no host name holds become '?'. Returns false when it is empty or longer
 * than a name can be. */
static bool
set_name(struct sni_claim *out, const uint8_t *s, size_t n)
{
	size_t i;

	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > NAME_MAX_LEN || s[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++) {
		uint8_t ch = s[i];

		if (ch >= 'A' && ch <= 'Z')
			ch = (uint8_t)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '.' || ch == '_'))
			ch = '?';
		out->name[i] = (char)ch;
	}
	out->name[n] = '\0';
	return true;
}

static enum sni_result
server_name_ext(struct cur *c, struct sni_claim *out)
{
	size_t listlen, type, nlen;
	bool have = false;

	if (!get16(c, &listlen) || listlen != c->len - c->pos || listlen == 0)
		return SNI_NOT_TLS;
	while (c->pos < c->len) {
		if (!get8(c, &type) || !get16(c, &nlen) || nlen > c->len - c->pos)
			return SNI_NOT_TLS;
		/* One host_name and nothing else: a server might read another
		 * entry than we do. */
		if (type != SNI_HOST_NAME || have)
			return SNI_NOT_TLS;
		if (!set_name(out, c->p + c->pos, nlen))
			return SNI_NOT_TLS;
		have = true;
		c->pos += nlen;
	}
	return SNI_OK;
}

/* The ClientHello body (after its 4-byte handshake header). */
static enum sni_result
client_hello(const uint8_t *p, size_t len, struct sni_claim *out)
{
	struct cur c = {p, len, 0};
	size_t n, extlen, type, elen;
	bool have_sni = false;

	if (!skip(&c, 2 + 32)) /* legacy_version, random */
		return SNI_NOT_TLS;
	if (!get8(&c, &n) || n > 32 || !skip(&c, n)) /* session id */
		return SNI_NOT_TLS;
	if (!get16(&c, &n) || n < 2 || n % 2 != 0 || !skip(&c, n)) /* cipher suites */
		return SNI_NOT_TLS;
	if (!get8(&c, &n) || n < 1 || !skip(&c, n)) /* compression methods */
		return SNI_NOT_TLS;
	if (c.pos == c.len)
		return SNI_NONE; /* no extensions at all */
	if (!get16(&c, &extlen) || extlen != c.len - c.pos)
		return SNI_NOT_TLS;
	while (c.pos < c.len) {
		struct cur e;

		if (!get16(&c, &type) || !get16(&c, &elen) || elen > c.len - c.pos)
			return SNI_NOT_TLS;
		e = (struct cur){c.p + c.pos, elen, 0};
		c.pos += elen;
		if (type == TLS_EXT_ECH) {
			out->ech = true;
		} else if (type == TLS_EXT_SERVER_NAME) {
			/* Two of them: which one would the server take? */
			if (have_sni || server_name_ext(&e, out) != SNI_OK)
				return SNI_NOT_TLS;
			have_sni = true;
		}
	}
	return have_sni ? SNI_OK : SNI_NONE;
}

enum sni_result
sni_parse_tls(const uint8_t *buf, size_t len, struct sni_claim *out)
{
	uint8_t hs[SNI_MAX_BYTES];
	size_t pos = 0, hsn = 0, rlen, avail, body;

	memset(out, 0, sizeof(*out));
	/* The handshake message may span records, and each record segments:
	 * gather the records' payloads until the ClientHello is whole. */
	for (;;) {
		size_t left = len - pos;

		if (left >= 1 && buf[pos] != TLS_CONTENT_HANDSHAKE)
			return SNI_NOT_TLS;
		if (left >= 2 && buf[pos + 1] != 3)
			return SNI_NOT_TLS;
		if (left < 5)
			return SNI_MORE;
		rlen = (size_t)buf[pos + 3] << 8 | buf[pos + 4];
		if (rlen == 0 || rlen > TLS_RECORD_MAX)
			return SNI_NOT_TLS;
		avail = left - 5 < rlen ? left - 5 : rlen;
		if (avail > sizeof(hs) - hsn)
			return SNI_NOT_TLS;
		memcpy(hs + hsn, buf + pos + 5, avail);
		hsn += avail;
		if (hsn >= 1 && hs[0] != TLS_HS_CLIENT_HELLO)
			return SNI_NOT_TLS;
		if (hsn >= 4) {
			body = (size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3];
			if (body > sizeof(hs) - 4)
				return SNI_NOT_TLS;
			if (hsn - 4 >= body)
				return client_hello(hs + 4, body, out);
		}
		if (avail < rlen)
			return SNI_MORE;
		pos += 5 + rlen;
	}
}

enum sni_result
sni_parse_handshake(const uint8_t *hs, size_t len, struct sni_claim *out)
{
	size_t body;

	memset(out, 0, sizeof(*out));
	if (len < 4 || hs[0] != TLS_HS_CLIENT_HELLO)
		return SNI_NOT_TLS;
	body = (size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3];
	if (body != len - 4)
		return SNI_NOT_TLS;
	return client_hello(hs + 4, body, out);
}

static bool
is_tchar(uint8_t ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static bool
ci_equal(const uint8_t *s, size_t n, const char *lit)
{
	size_t i;

	if (n != strlen(lit))
		return false;
	for (i = 0; i < n; i++) {
		uint8_t ch = s[i];

		if (ch >= 'A' && ch <= 'Z')
			ch = (uint8_t)(ch - 'A' + 'a');
		if (ch != (uint8_t)lit[i])
			return false;
	}
	return true;
}

/* The request line: METHOD SP /target SP HTTP/1.x. Only origin form: in
 * absolute form ("GET http://other/") the server takes the URL's host over
 * the Host header. Returns SNI_OK, SNI_MORE while what is there fits. */
static enum sni_result
request_line(const uint8_t *p, size_t len, size_t *eol)
{
	static const char version[] = "HTTP/1.";
	size_t i = 0, t;

	while (i < len && p[i] >= 'A' && p[i] <= 'Z' && i < 16)
		i++;
	if (i == len)
		return SNI_MORE;
	if (i == 0 || p[i] != ' ')
		return SNI_NOT_HTTP;
	i++;
	if (i == len)
		return SNI_MORE;
	if (p[i] != '/')
		return SNI_NOT_HTTP;
	while (i < len && p[i] > ' ' && p[i] < 0x7f)
		i++;
	if (i == len)
		return SNI_MORE;
	if (p[i] != ' ')
		return SNI_NOT_HTTP;
	i++;
	for (t = 0; t < sizeof(version) - 1; t++, i++) {
		if (i == len)
			return SNI_MORE;
		if (p[i] != (uint8_t)version[t])
			return SNI_NOT_HTTP;
	}
	if (i == len)
		return SNI_MORE;
	if (p[i] != '0' && p[i] != '1')
		return SNI_NOT_HTTP;
	i++;
	if (len - i < 2)
		return len - i == 1 && p[i] != '\r' ? SNI_NOT_HTTP : SNI_MORE;
	if (p[i] != '\r' || p[i + 1] != '\n')
		return SNI_NOT_HTTP;
	*eol = i + 2;
	return SNI_OK;
}

enum sni_result
sni_parse_http(const uint8_t *buf, size_t len, struct sni_claim *out)
{
	const uint8_t *host = NULL;
	size_t i, pos, end = 0, nhost = 0, hlen = 0;
	enum sni_result r;

	memset(out, 0, sizeof(*out));
	if (len > SNI_MAX_BYTES)
		len = SNI_MAX_BYTES;
	/* Every line ends in CRLF: a bare LF or CR is a line end to some
	 * servers and not to others, and a server that ends the headers where
	 * we do not would answer a request we let through as incomplete. */
	for (i = 0; i < len && end == 0; i++) {
		if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r'))
			return SNI_NOT_HTTP;
		if (buf[i] == '\r' && i + 1 < len && buf[i + 1] != '\n')
			return SNI_NOT_HTTP;
		if (i >= 3 && memcmp(buf + i - 3, "\r\n\r\n", 4) == 0)
			end = i + 1; /* what follows is the body: any bytes */
	}
	r = request_line(buf, len, &pos);
	if (r != SNI_OK)
		return r == SNI_MORE && len == SNI_MAX_BYTES ? SNI_NOT_HTTP : r;
	if (end == 0)
		return len == SNI_MAX_BYTES ? SNI_NOT_HTTP : SNI_MORE;
	while (pos < end - 2) {
		size_t eol = pos, colon;

		while (buf[eol] != '\r')
			eol++;
		/* Folded lines (obs-fold) continue the header before: deny. */
		if (buf[pos] == ' ' || buf[pos] == '\t')
			return SNI_NOT_HTTP;
		for (colon = pos; colon < eol && is_tchar(buf[colon]); colon++)
			;
		if (colon == pos || colon == eol || buf[colon] != ':')
			return SNI_NOT_HTTP;
		if (ci_equal(buf + pos, colon - pos, "host")) {
			size_t v = colon + 1, ve = eol;

			while (v < ve && (buf[v] == ' ' || buf[v] == '\t'))
				v++;
			while (ve > v && (buf[ve - 1] == ' ' || buf[ve - 1] == '\t'))
				ve--;
			host = buf + v;
			hlen = ve - v;
			nhost++;
		}
		pos = eol + 2;
	}
	if (nhost != 1 || hlen == 0)
		return SNI_NO_HOST;
	/* host [":" port]; a literal [v6] is no name and can match none. */
	for (i = 0; i < hlen && host[i] != ':'; i++)
		;
	if (i < hlen) {
		size_t d;

		if (i + 1 == hlen)
			return SNI_NO_HOST;
		for (d = i + 1; d < hlen; d++)
			if (host[d] < '0' || host[d] > '9')
				return SNI_NO_HOST;
	}
	if (!set_name(out, host, i))
		return SNI_NO_HOST;
	return SNI_OK;
}
