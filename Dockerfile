# namegate sandbox image: an egress firewall by name for the container it runs in.
#
#   docker build -t namegate .
#   docker run --rm -it --cap-drop ALL --cap-add NET_ADMIN --cap-add NET_RAW \
#       --cap-add SETUID --cap-add SETGID --security-opt no-new-privileges namegate
#
# See docs/image.md (what each flag is for, how to extend the image). Every
# package comes from Debian's archive.

# ---------------------------------------------------------------- build
# The build stage builds the Debian package (debian/, dpkg-buildpackage); the
# image installs that package, so the image and the .deb cannot drift.
FROM debian:bookworm-slim AS build-deps
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        meson ninja-build pkgconf gcc libc6-dev \
        libldns-dev libnetfilter-queue-dev libmnl-dev libinih-dev libpsl-dev libjson-c-dev libssl-dev \
        build-essential debhelper dpkg-dev scdoc \
 && apt-get clean && rm -rf /var/lib/apt/lists/*

FROM build-deps AS build
WORKDIR /src/namegate
COPY meson.build meson_options.txt sandbox.ini README.md ./
COPY common/ common/
COPY resolver/ resolver/
COPY nfq/ nfq/
COPY confine/ confine/
COPY cli/ cli/
COPY docker/ docker/
COPY man/ man/
COPY debian/ debian/
COPY tests/hardening/ tests/hardening/
COPY docs/*.md docs/
RUN dpkg-buildpackage -us -uc -b \
 && mkdir /out && mv ../namegate_*.deb /out/

# ---------------------------------------------------------------- runtime
# What namegate needs at run time: the daemons' libraries; iptables/ipset for
# the rules (and `ipset list` to look at them); tini as the agent's init; drill
# (ldnsutils) for the start-up checks; ss (iproute2) and conntrack to cut
# what was open before namegate-up; curl and ca-certificates because
# every agent needs them. Copy this stage into your own image if you would
# rather not start FROM the finished one (docs/image.md).
FROM debian:bookworm-slim AS runtime-deps
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libldns3 libnetfilter-queue1 libmnl0 libinih1 libpsl5 publicsuffix libjson-c5 libssl3 \
        iptables ipset iproute2 tini ldnsutils adduser conntrack curl ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/*

FROM runtime-deps
# The agent's uid/gid: match your own (id -u / id -g) so that files it writes
# to a bind-mounted work tree belong to you.
ARG HOST_UID=1000
ARG HOST_GID=1000

# The agent first, so that a HOST_UID below 1000 cannot collide with the
# system user the package makes after it. An existing group with HOST_GID is
# reused.
RUN set -eu; \
    [ "$HOST_UID" -ne 0 ] || { echo "HOST_UID must not be 0" >&2; exit 1; }; \
    getent group "$HOST_GID" >/dev/null || groupadd --gid "$HOST_GID" agent; \
    useradd --uid "$HOST_UID" --gid "$HOST_GID" --create-home --shell /bin/bash agent

# The package: the daemons and helpers in /usr/sbin, /etc/namegate/sandbox.ini,
# the user namegate (postinst). Its dependencies are all in runtime-deps, so
# dpkg -i needs no network (and fails the build if one is missing). The .deb
# stays in /usr/local/share/namegate/ for images that take namegate from this
# one (docs/image.md, examples/agent-sandbox).
COPY --from=build /out/ /usr/local/share/namegate/
RUN dpkg -i /usr/local/share/namegate/namegate_*.deb

# - config: root's, read-only to everyone else (the agent can read, not edit),
#   as the package installs it;
# - /run/namegate: the gate's socket directory, set-group-ID so the socket and
#   the saved upstream file are born in the resolver's group: no CAP_CHOWN;
# - the log: root's, appended to by the resolver (group), read by the agent;
# - no set-user-ID programs: even without --security-opt no-new-privileges
#   the agent has nothing to raise its privileges with.
RUN set -eu; \
    install -d -o root -g namegate -m 2750 /run/namegate; \
    install -o root -g namegate -m 0664 /dev/null /var/log/namegate.log; \
    find / -xdev -type f -perm /6000 -exec chmod ug-s {} +

ENTRYPOINT ["/usr/sbin/namegate-entrypoint"]
CMD ["/bin/bash", "-l"]
