# namegate sandbox image: an egress firewall by name for the container it runs in.
#
#   docker build -t namegate .
#   docker run --rm -it --cap-drop ALL --cap-add NET_ADMIN --cap-add NET_RAW \
#       --cap-add SETUID --cap-add SETGID --security-opt no-new-privileges namegate
#
# See docs/image.md (what each flag is for, how to extend the image). Every
# package comes from Debian's archive.

# ---------------------------------------------------------------- build
FROM debian:bookworm-slim AS build-deps
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        meson ninja-build pkg-config gcc libc6-dev \
        libldns-dev libnetfilter-queue-dev libmnl-dev libinih-dev \
 && apt-get clean && rm -rf /var/lib/apt/lists/*

FROM build-deps AS build
WORKDIR /src
COPY meson.build meson_options.txt ./
COPY common/ common/
COPY resolver/ resolver/
COPY nfq/ nfq/
COPY confine/ confine/
RUN meson setup /build -Dtests=false --prefix=/usr \
 && ninja -C /build \
 && DESTDIR=/out meson install -C /build --strip

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
        libldns3 libnetfilter-queue1 libmnl0 libinih1 \
        iptables ipset tini ldnsutils curl ca-certificates iproute2 conntrack \
 && apt-get clean && rm -rf /var/lib/apt/lists/*

FROM runtime-deps
# The agent's uid/gid: match your own (id -u / id -g) so that files it writes
# to a bind-mounted work tree belong to you.
ARG HOST_UID=1000
ARG HOST_GID=1000

# The agent first, so that a HOST_UID below 1000 cannot collide with the
# system user made after it. An existing group with HOST_GID is reused.
RUN set -eu; \
    [ "$HOST_UID" -ne 0 ] || { echo "HOST_UID must not be 0" >&2; exit 1; }; \
    getent group "$HOST_GID" >/dev/null || groupadd --gid "$HOST_GID" agent; \
    useradd --uid "$HOST_UID" --gid "$HOST_GID" --create-home --shell /bin/bash agent; \
    groupadd --system namegate; \
    useradd --system --gid namegate --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin namegate

COPY --from=build /out/usr/bin/namegate-nfq /out/usr/bin/namegate-resolver \
     /out/usr/bin/namegate-confine /usr/sbin/
COPY docker/namegate-up docker/namegate-supervise docker/namegate-entrypoint \
     docker/namegate-as-agent docker/namegate-lib.sh docker/namegate-cutflows.sh /usr/local/sbin/
COPY sandbox.ini /etc/namegate/sandbox.ini

# - config: root's, read-only to everyone else (the agent can read, not edit);
# - /run/namegate: the gate's socket directory, set-group-ID so the socket and
#   the saved upstream file are born in the resolver's group: no CAP_CHOWN;
# - the log: root's, appended to by the resolver (group), read by the agent;
# - no set-user-ID programs: even without --security-opt no-new-privileges
#   the agent has nothing to raise its privileges with.
RUN set -eu; \
    chown -R root:root /etc/namegate /usr/local/sbin/namegate-*; \
    chmod 0755 /etc/namegate /usr/local/sbin/namegate-up /usr/local/sbin/namegate-supervise \
        /usr/local/sbin/namegate-as-agent /usr/local/sbin/namegate-entrypoint; \
    chmod 0644 /etc/namegate/sandbox.ini /usr/local/sbin/namegate-lib.sh \
        /usr/local/sbin/namegate-cutflows.sh; \
    install -d -o root -g namegate -m 2750 /run/namegate; \
    install -o root -g namegate -m 0664 /dev/null /var/log/namegate.log; \
    find / -xdev -type f -perm /6000 -exec chmod ug-s {} +

ENTRYPOINT ["/usr/local/sbin/namegate-entrypoint"]
CMD ["/bin/bash", "-l"]
