//! Connections: one enum over both backends (diesel's `MultiConnection`), and the r2d2 factory
//! that opens them with the settings each backend needs.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection as _;
use diesel::{Connection as _, PgConnection, SqliteConnection};

use crate::StoreError;

/// A connection to either backend; queries written once run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs `$body` with `$c` bound to the backend's own connection, bypassing diesel's
/// `MultiConnection` layer. That layer serialises a query to SQL in every pass over it (the
/// statement-cache check, the bind collection), even when the prepared statement is cached: a
/// few percent of a userinfo request's CPU in string building. Used on the hot paths; the body
/// is compiled once per backend.
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::DbConnection::Postgres($c) => $body,
            $crate::DbConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use per_backend;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A parsed database URL: `sqlite://PATH` (relative or absolute) or `postgres://...`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl std::fmt::Debug for DatabaseUrl {
    // The PostgreSQL URL may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(_) => f.write_str("postgres://..."),
        }
    }
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::Url("sqlite:// needs a file path, e.g. sqlite://./data/yagona.db".into()));
            }
            Ok(Self::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_owned()))
        } else {
            Err(StoreError::Url("must start with sqlite:// or postgres://".into()))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// The folder beside a SQLite file (where development secrets are kept).
    pub fn sqlite_folder(&self) -> Option<PathBuf> {
        match self {
            Self::Sqlite(path) => Some(path.parent().map(PathBuf::from).unwrap_or_default()),
            Self::Postgres(_) => None,
        }
    }
}

/// Who checkpoints SQLite's write-ahead log (copies its pages back into the database file).
/// PostgreSQL ignores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpoints {
    /// The connection whose commit grows the log past 1000 pages, inside that commit (SQLite's
    /// default): right for the CLI's short runs.
    OnCommit,
    /// A background thread every [`BACKGROUND_CHECKPOINT_EVERY`], so requests do not pay for
    /// checkpoints (a copy and two `fsync`s every hundred or so token responses: 10–20% more
    /// refreshes and code exchanges per second in the bench). Connections never checkpoint: a
    /// limit at which they would (even 10000 pages) is soon reached under load, since the log
    /// is reset only when no reader holds an old snapshot, and then every commit tries one.
    Background,
}

/// The log size at which the background checkpointer resets the log (waiting for readers and
/// holding writers back meanwhile): 16384 pages of 4 KiB.
pub const WAL_RESET_PAGES: i64 = 16_384;

#[derive(diesel::QueryableByName)]
struct CheckpointResult {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    log: i64,
}

/// One round of the background checkpointer: a passive checkpoint, and a reset of the log once
/// it holds `reset_at` pages (`RESTART`: it waits for the readers of old snapshots, so that the
/// next commit writes the log from its start; `TRUNCATE` also empties the file, which then grows
/// again page by page: p99 of the bench's refreshes 18.8 ms with it, 12.8 ms without).
pub(crate) fn checkpoint(conn: &mut PooledDb, reset_at: i64) -> Result<(), StoreError> {
    use diesel::RunQueryDsl as _;
    let DbConnection::Sqlite(sqlite) = &mut conn.conn else { return Ok(()) };
    let passive: Vec<CheckpointResult> = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").load(sqlite)?;
    if passive.first().is_some_and(|r| r.log >= reset_at) {
        sqlite.batch_execute("PRAGMA wal_checkpoint(RESTART)")?;
    }
    Ok(())
}

/// How often the background checkpointer runs. The bench found no difference between 50 ms and
/// 1 s; a short period keeps the log small.
pub const BACKGROUND_CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

impl Checkpoints {
    /// The log size (in pages) past which a committing connection checkpoints (0: never).
    fn autocheckpoint_pages(self) -> u32 {
        match self {
            Self::OnCommit => 1000,
            Self::Background => 0,
        }
    }
}

/// Opens connections for the pool.
pub struct ConnectionFactory {
    url: DatabaseUrl,
    checkpoints: Checkpoints,
}

impl ConnectionFactory {
    pub fn new(url: DatabaseUrl, checkpoints: Checkpoints) -> Self {
        Self { url, checkpoints }
    }
}

/// SQLite settings for many connections in one process and several processes on one file:
/// WAL lets readers run beside the writer; the busy timeout makes writers queue instead of
/// failing; foreign keys are off by default in SQLite; the log file is cut back to 64 MiB after
/// a checkpoint empties it (it keeps its largest size otherwise); the database file is read
/// through a memory map of up to [`SQLITE_MMAP_BYTES`].
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA journal_size_limit = 67108864;";

/// How much of the database file each connection maps (64 GiB, SQLite maps no more than the
/// file): a page read is then a memory access instead of a `pread` copying the page into the
/// connection's own cache. At 1 M people, where the per-person lookups miss that small cache on
/// most pages, it served 13 to 20% more of them (docs/performance.md, "Seventh session"). The
/// pages are the kernel's page cache, shared by the connections and counted in the process's RSS
/// once touched. SQLite caps the map at its build's `SQLITE_MAX_MMAP_SIZE` (2 GiB by default),
/// raised to this in .cargo/config.toml.
const SQLITE_MMAP_BYTES: i64 = 68_719_476_736;

/// A pooled connection and when the pool last handed it out.
pub struct PooledDb {
    conn: DbConnection,
    last_checkout: Instant,
}

impl std::ops::Deref for PooledDb {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PooledDb {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

/// A connection handed out this recently is taken as alive without a `SELECT 1` (HikariCP's
/// "alive bypass window"): under load every request would otherwise pay one more round trip to
/// PostgreSQL for the check than for its own query. A connection idle for longer is checked.
const ALIVE_BYPASS: Duration = Duration::from_millis(500);

fn alive_check_due(last_checkout: Instant, now: Instant) -> bool {
    now.saturating_duration_since(last_checkout) >= ALIVE_BYPASS
}

impl diesel::r2d2::ManageConnection for ConnectionFactory {
    type Connection = PooledDb;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PooledDb, Self::Error> {
        let conn = match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let path = path.to_string_lossy();
                let mut conn = SqliteConnection::establish(&path).map_err(diesel::r2d2::Error::ConnectionError)?;
                conn.batch_execute(SQLITE_PRAGMAS).map_err(diesel::r2d2::Error::QueryError)?;
                conn.batch_execute(&format!(
                    "PRAGMA wal_autocheckpoint = {}; PRAGMA mmap_size = {SQLITE_MMAP_BYTES};",
                    self.checkpoints.autocheckpoint_pages()
                ))
                .map_err(diesel::r2d2::Error::QueryError)?;
                DbConnection::Sqlite(conn)
            }
            DatabaseUrl::Postgres(url) => {
                DbConnection::Postgres(PgConnection::establish(url).map_err(diesel::r2d2::Error::ConnectionError)?)
            }
        };
        Ok(PooledDb { conn, last_checkout: Instant::now() })
    }

    fn is_valid(&self, pooled: &mut PooledDb) -> Result<(), Self::Error> {
        if alive_check_due(pooled.last_checkout, Instant::now()) {
            pooled.conn.batch_execute("SELECT 1").map_err(diesel::r2d2::Error::QueryError)?;
        }
        pooled.last_checkout = Instant::now();
        Ok(())
    }

    fn has_broken(&self, pooled: &mut PooledDb) -> bool {
        // A transaction left broken (a failed rollback) must not go back to the pool.
        diesel::r2d2::R2D2Connection::is_broken(&mut pooled.conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::r2d2::ManageConnection as _;

    #[test]
    fn only_a_connection_idle_past_the_bypass_window_is_checked() {
        let t = Instant::now();
        assert!(!alive_check_due(t, t));
        assert!(!alive_check_due(t, t + ALIVE_BYPASS - Duration::from_millis(1)));
        assert!(alive_check_due(t, t + ALIVE_BYPASS));
        assert!(alive_check_due(t, t + Duration::from_secs(3600)));
    }

    /// The log's size in pages after a checkpoint round and one more commit, while a reader
    /// holds a snapshot from before the round (released after 300 ms by a thread).
    fn log_after_a_round(name: &str, reset_at: i64) -> i64 {
        use diesel::RunQueryDsl as _;
        let dir = std::env::temp_dir().join(format!("yagona-ckpt-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let factory = ConnectionFactory::new(DatabaseUrl::Sqlite(dir.join("c.db")), Checkpoints::Background);
        let (mut writer, mut checkpointer) = (factory.connect().unwrap(), factory.connect().unwrap());
        let mut reader = factory.connect().unwrap();
        writer.batch_execute("CREATE TABLE filler (data TEXT NOT NULL)").unwrap();
        for _ in 0..100 {
            writer.batch_execute("INSERT INTO filler VALUES (printf('%.4000c', 'x'))").unwrap();
        }
        reader.batch_execute("BEGIN; SELECT count(*) FROM filler;").unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            reader.batch_execute("COMMIT").unwrap();
        });
        checkpoint(&mut checkpointer, reset_at).unwrap();
        writer.batch_execute("INSERT INTO filler VALUES ('one more')").unwrap();
        let DbConnection::Sqlite(sqlite) = &mut checkpointer.conn else { unreachable!("a SQLite factory") };
        let log = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").load::<CheckpointResult>(sqlite).unwrap()[0].log;
        release.join().unwrap();
        std::fs::remove_dir_all(&dir).ok();
        log
    }

    #[test]
    fn the_checkpointer_resets_a_large_log_and_leaves_a_small_one() {
        // Connections never checkpoint at commit, and the passive round cannot restart the
        // log under a reader: the next commit appends.
        assert!(log_after_a_round("small", 1000) > 100, "a small log is copied, not reset");
        // The reset waits for the reader; the next commit starts the log over.
        assert!(log_after_a_round("large", 100) < 10, "a large log is reset");
    }

    /// A server connection (the factory's pragmas) to a new database file named `name` in its
    /// own folder, which the caller removes.
    fn fresh_connection(name: &str) -> (std::path::PathBuf, PooledDb) {
        let dir = std::env::temp_dir().join(format!("yagona-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let factory = ConnectionFactory::new(DatabaseUrl::Sqlite(dir.join("t.db")), Checkpoints::OnCommit);
        let pooled = factory.connect().unwrap();
        (dir, pooled)
    }

    /// The whole database file (up to 64 GiB) is mapped: the build's cap does not clamp it.
    #[test]
    fn a_connection_maps_the_database_file() {
        use diesel::sql_types::BigInt;
        use diesel::RunQueryDsl as _;
        #[derive(diesel::QueryableByName)]
        struct MmapSize {
            #[diesel(sql_type = BigInt)]
            mmap_size: i64,
        }
        let (dir, mut pooled) = fresh_connection("mmap");
        let DbConnection::Sqlite(sqlite) = &mut pooled.conn else { unreachable!("a SQLite factory") };
        let mapped = diesel::sql_query("PRAGMA mmap_size").get_result::<MmapSize>(sqlite).unwrap().mmap_size;
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(mapped, SQLITE_MMAP_BYTES);
    }

    /// An analysed database must not make SQLite re-plan a cached statement for each new bound
    /// value (STAT4 does unless the query planner stability guarantee is on: .cargo/config.toml).
    /// A re-plan is what `EXPLAIN QUERY PLAN` of a bound statement shows: here, a skewed column
    /// whose rare value would take one index and whose common value the other.
    #[test]
    fn an_analysed_database_plans_a_statement_once_whatever_its_bound_values() {
        use diesel::sql_types::{BigInt, Text};
        use diesel::RunQueryDsl as _;
        #[derive(diesel::QueryableByName, PartialEq, Debug)]
        struct Step {
            #[diesel(sql_type = Text)]
            detail: String,
        }
        let (dir, mut pooled) = fresh_connection("qpsg");
        pooled
            .batch_execute(
                "CREATE TABLE t (a TEXT NOT NULL, b INTEGER NOT NULL);
                 CREATE INDEX t_a ON t (a); CREATE INDEX t_b ON t (b);
                 WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999)
                 INSERT INTO t SELECT CASE WHEN i % 1000 = 0 THEN 'rare' ELSE 'common' END, i FROM n;
                 ANALYZE;",
            )
            .unwrap();
        let DbConnection::Sqlite(sqlite) = &mut pooled.conn else { unreachable!("a SQLite factory") };
        let mut plan = |a: &str, b: i64| {
            diesel::sql_query("EXPLAIN QUERY PLAN SELECT b FROM t WHERE a = ? AND b > ?")
                .bind::<Text, _>(a)
                .bind::<BigInt, _>(b)
                .load::<Step>(sqlite)
                .unwrap()
        };
        let (rare, common) = (plan("rare", 0), plan("common", 9_990));
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(rare, common, "one plan for both bindings");
    }

    #[test]
    fn a_check_out_is_recorded_and_a_live_connection_passes() {
        let dir = std::env::temp_dir().join(format!("yagona-conn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let factory = ConnectionFactory::new(DatabaseUrl::Sqlite(dir.join("c.db")), Checkpoints::OnCommit);
        let mut pooled = factory.connect().unwrap();
        let long_ago = Instant::now() - ALIVE_BYPASS * 2;
        pooled.last_checkout = long_ago;
        factory.is_valid(&mut pooled).expect("checked with SELECT 1, and alive");
        assert!(pooled.last_checkout > long_ago, "the check-out is recorded");
        assert!(!alive_check_due(pooled.last_checkout, Instant::now()), "so the next one skips the check");
        assert!(!factory.has_broken(&mut pooled));
        std::fs::remove_dir_all(&dir).ok();
    }
}
