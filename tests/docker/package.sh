# shellcheck shell=bash
# The checks are functions that check() (tests/docker/run) calls by name:
# shellcheck disable=SC2317 # reachable, through check()
# Sourced by tests/docker/run once the images are built: the Debian package.
# The build stage ($P-build) built it with dpkg-buildpackage; it is taken out
# of that image, checked with lintian, installed with apt-get into a fresh
# debian:bookworm-slim container (its dependencies from Debian's archive, on
# the default bridge) and looked at there, then purged.

PKG_CHECKS="package.built package.version package.hardening package.lintian package.install
package.files package.conffile package.user package.man-pages package.check-config
package.no-service package.purge"

pkg_block() {
	local version deb c out lint
	version=$(sed -n "s/^[[:space:]]*version: '\([^']*\)'.*/\1/p" "$TOP/meson.build" | head -n 1)
	mkdir -p "$WORK/deb"
	c=$(docker create "$P-build" true) &&
		docker cp "$c:/out/." "$WORK/deb/" >/dev/null
	docker rm -f "$c" >/dev/null 2>&1
	deb=
	for f in "$WORK"/deb/namegate_*.deb; do
		if [ -f "$f" ]; then
			deb=$f
			break
		fi
	done
	if [ -z "$deb" ]; then
		fail package.built "no namegate_*.deb in the build stage's /out"
		for c in $PKG_CHECKS; do [ "$c" = package.built ] || skip "$c" "no package"; done
		return
	fi
	pass package.built
	note "package: $(basename "$deb"), $(stat -c %s "$deb") bytes"

	# One version: meson.build's, debian/changelog's and the package's.
	local chv debv
	chv=$(sed -n '1s/^namegate (\([^)]*\)).*/\1/p' "$TOP/debian/changelog")
	debv=$(dpkg-deb -f "$deb" Version)
	if [ -n "$version" ] && [ "$chv" = "$version" ] && [ "$debv" = "$version" ] &&
		[ "$(basename "$deb")" = "namegate_${version}_$(dpkg-deb -f "$deb" Architecture).deb" ]; then
		pass package.version
	else
		fail package.version "meson.build $version, debian/changelog $chv, package $debv, file $(basename "$deb")"
	fi

	# The installed daemons are built as Debian's hardening flags build.
	rm -rf "$WORK/debx"
	dpkg-deb -x "$deb" "$WORK/debx"
	check package.hardening "$TOP/tests/hardening/check" --fortify \
		"$WORK/debx/usr/sbin/namegate-nfq" "$WORK/debx/usr/sbin/namegate-resolver"

	# lintian, in a container of its own (cached); errors fail.
	if build "$WORK/lintian.log" -t "$CACHE:lintian" -f - "$WORK" >/dev/null <<'EOF'; then
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends lintian \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
EOF
		lint=$(docker run --rm --network none -v "$WORK/deb:/deb:ro" "$CACHE:lintian" \
			sh -c 'lintian --tag-display-limit 0 /deb/*.deb; echo "lintian-exit=$?"' 2>&1)
		printf '%s\n' "$lint" | sed 's/^/# lintian: /'
		if printf '%s\n' "$lint" | grep -q '^E: '; then
			fail package.lintian "$(printf '%s\n' "$lint" | grep '^E: ')"
		elif ! printf '%s\n' "$lint" | grep -q '^lintian-exit='; then
			fail package.lintian "lintian did not run"
		else
			pass package.lintian
		fi
	else
		fail package.lintian "could not build the lintian image: $(tail -n 5 "$WORK/lintian.log")"
	fi

	# A fresh debian:bookworm-slim: apt-get install ./namegate_*.deb, its
	# dependencies from Debian's archive (default bridge).
	local PC=$P-pkg
	docker run -d --name "$PC" -v "$WORK/deb:/deb:ro" debian:bookworm-slim sleep infinity >/dev/null
	pkg_sh() { docker exec "$PC" sh -c "$*"; }
	if out=$(pkg_sh 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends /deb/namegate_*.deb' 2>&1); then
		pass package.install
	else
		fail package.install "$(printf '%s\n' "$out" | tail -n 20)"
		for c in package.files package.conffile package.user package.man-pages package.check-config \
			package.no-service package.purge; do skip "$c" "not installed"; done
		docker rm -f "$PC" >/dev/null 2>&1
		return
	fi

	local f missing=
	out=$(pkg_sh 'dpkg -L namegate')
	for f in /usr/sbin/namegate-nfq /usr/sbin/namegate-resolver /usr/sbin/namegate-up \
		/usr/sbin/namegate-entrypoint /usr/sbin/namegate-as-agent /usr/sbin/namegate-supervise \
		/usr/share/namegate/namegate-lib.sh /etc/namegate/sandbox.ini \
		/usr/share/man/man8/namegate-nfq.8.gz /usr/share/man/man8/namegate-resolver.8.gz \
		/usr/share/man/man5/sandbox.ini.5.gz /usr/share/man/man8/namegate-up.8.gz \
		/usr/share/man/man8/namegate-entrypoint.8.gz /usr/share/doc/namegate/copyright; do
		printf '%s\n' "$out" | grep -qx "$f" || missing="$missing $f"
	done
	# Every helper a script calls by path is there and executable.
	while read -r f; do
		pkg_sh "test -e $f" || missing="$missing $f(called-by-a-script)"
	done < <(grep -ho '/usr/sbin/namegate-[a-z-]*\|/usr/share/namegate/[a-z.-]*' "$TOP"/docker/namegate-* | sort -u)
	if [ -z "$missing" ]; then
		pass package.files
	else
		fail package.files "missing:$missing" "$out"
	fi
	check package.conffile expect_in "/etc/namegate/sandbox.ini" pkg_sh "dpkg-query -W -f='\${Conffiles}' namegate"
	pkg_user() {
		local pw
		pw=$(pkg_sh 'getent passwd namegate') || { echo "no user namegate"; return 1; }
		IFS=: read -r _ _ uid _ _ home shell <<<"$pw"
		if [ "$uid" -ge 1000 ] || [ "$shell" != /usr/sbin/nologin ] || [ "$home" != /nonexistent ]; then
			echo "not a system user without a login: $pw"
			return 1
		fi
		expect_in "root namegate 664" pkg_sh "stat -c '%U %G %a' /var/log/namegate.log"
	}
	check package.user pkg_user
	pkg_man() {
		local p
		for p in man8/namegate-nfq.8 man8/namegate-resolver.8 man5/sandbox.ini.5; do
			pkg_sh "zcat /usr/share/man/$p.gz | grep -q '^\\.TH'" || { echo "$p: not a man page"; return 1; }
		done
		expect_in "--check-config" pkg_sh "zcat /usr/share/man/man8/namegate-nfq.8.gz"
	}
	check package.man-pages pkg_man
	# The default config needs the saved upstreams namegate-up makes first.
	check package.check-config expect_in "domain = registry.npmjs.org" pkg_sh \
		'mkdir -p /run/namegate && cp /etc/resolv.conf /run/namegate/resolv.conf.upstream &&
		namegate-nfq --check-config -c /etc/namegate/sandbox.ini &&
		namegate-resolver --check-config -c /etc/namegate/sandbox.ini >/dev/null'
	pkg_noservice() {
		local comms
		comms=$(pkg_sh 'cat /proc/[0-9]*/comm 2>/dev/null')
		if printf '%s\n' "$comms" | grep -q '^namegate'; then
			echo "a namegate process runs after the install: $comms"
			return 1
		fi
		out=$(pkg_sh 'dpkg -L namegate' | grep -E '/systemd/|/init\.d/') && { echo "ships a service: $out"; return 1; }
		return 0
	}
	check package.no-service pkg_noservice
	check package.purge pkg_sh 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq namegate >/dev/null &&
		! test -e /etc/namegate/sandbox.ini && ! test -e /usr/sbin/namegate-nfq && ! test -e /var/log/namegate.log'
	docker rm -f "$PC" >/dev/null 2>&1
}
