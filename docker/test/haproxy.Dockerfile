# haproxy from Debian's packages, for the compose test (no registry here), with the official
# haproxy image's interface: the configuration at /usr/local/etc/haproxy/haproxy.cfg, run in the
# foreground as the haproxy user.
FROM yagona-base/debian:bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends haproxy \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /usr/local/etc/haproxy
USER haproxy
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
