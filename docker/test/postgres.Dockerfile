# PostgreSQL 15 from Debian's packages, for the compose test (no registry here). It follows the
# official postgres image's interface so docker/compose.yml is the same with either: POSTGRES_USER,
# POSTGRES_DB, POSTGRES_PASSWORD_FILE, data in /var/lib/postgresql/data.
FROM yagona-base/debian:bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
USER postgres
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["postgres-entrypoint.sh"]
CMD ["postgres"]
