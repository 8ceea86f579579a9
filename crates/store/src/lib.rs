//! Yagona's storage: one diesel schema over SQLite (the embedded default) and PostgreSQL
//! (production), the embedded migrations of both, and the repositories that implement the
//! domain crates' ports ([`yagona_account::AccountRepository`],
//! [`yagona_oidc::OidcRepository`]).
//!
//! Lookups by a unique key use `get_result`, not `first`: `first` adds `LIMIT ?`, and SQLite's
//! planner reads a bound LIMIT, so every execution with a fresh binding re-prepares the cached
//! statement (a fifth of the CPU of a userinfo request, seen in a profile).
//!
//! The repositories are synchronous (diesel); the server calls them from a blocking thread pool.
//! Each port method is one statement or one transaction, written so that single-use rules hold
//! under concurrency: a code or refresh token is spent by one conditional `UPDATE ... RETURNING`,
//! which only one of many concurrent callers can win, on both backends.

mod accounts;
mod audit;
mod connection;
mod error;
mod legal;
mod migrations;
mod oidc;
mod pending_signatures;
mod prepared;
mod recovery;
mod revocation;
mod rows;
mod schema;
pub mod seed;
mod signals;
mod throttle;

pub use connection::{Backend, Checkpoints, DatabaseUrl, DbConnection};
pub use error::StoreError;
pub use oidc::purge::{PurgeBatches, PurgeReport, MAX_BATCH as MAX_PURGE_BATCH};
pub use pending_signatures::{KeptSignature, PendingKey, SignaturePurpose};
pub use recovery::{LinkPurpose, PasswordReset};
pub use revocation::CrlSourceRecord;

use diesel::r2d2::{Pool, PooledConnection};

use connection::ConnectionFactory;

/// A connection checked out of the pool (returned to it on drop).
struct Conn(PooledConnection<ConnectionFactory>);

impl std::ops::Deref for Conn {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.0
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.0
    }
}

/// How long [`Store::open`] (the CLI) waits for a connection.
pub const DEFAULT_ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The connection pool at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    pub connections: u32,
    pub idle: u32,
    pub max: u32,
}

/// The database: a pool of connections to one SQLite file or one PostgreSQL database.
#[derive(Clone)]
pub struct Store {
    pool: Pool<ConnectionFactory>,
    backend: Backend,
    /// Held by every clone; the background checkpointer stops when the last one is dropped.
    alive: std::sync::Arc<()>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens a pool of `pool_size` connections; a SQLite file and its folder are created if
    /// missing. SQLite's log is checkpointed at commits ([`Checkpoints::OnCommit`]).
    pub fn open(url: &DatabaseUrl, pool_size: u32) -> Result<Self, StoreError> {
        Self::open_with(url, pool_size, Checkpoints::OnCommit, DEFAULT_ACQUIRE_TIMEOUT)
    }

    /// [`Store::open`], choosing who checkpoints SQLite's log ([`Checkpoints::Background`]
    /// starts the checkpointer thread) and how long a request waits for a connection before the
    /// database counts as unavailable ([`StoreError::is_unavailable`]): short, so an outage
    /// fails requests fast with 503 instead of holding them.
    pub fn open_with(
        url: &DatabaseUrl,
        pool_size: u32,
        checkpoints: Checkpoints,
        acquire_timeout: std::time::Duration,
    ) -> Result<Self, StoreError> {
        if let DatabaseUrl::Sqlite(path) = url {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| StoreError::Connection(format!("creating {}: {e}", parent.display())))?;
            }
            make_private(path).map_err(StoreError::Connection)?;
        }
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            .connection_timeout(acquire_timeout)
            .build(ConnectionFactory::new(url.clone(), checkpoints))
            .map_err(|e| StoreError::Connection(e.to_string()))?;
        let store = Self { pool, backend: url.backend(), alive: std::sync::Arc::new(()) };
        if checkpoints == Checkpoints::Background && store.backend == Backend::Sqlite {
            store.spawn_checkpointer(url, checkpoints)?;
        }
        Ok(store)
    }

    /// A thread with a connection of its own (requests never wait for it in the pool) that
    /// checkpoints passively: it copies what no reader still needs and never blocks a writer.
    /// Under steady load some reader always holds an older snapshot, so the log is never reset
    /// and keeps growing (past 170 MiB in ten seconds of the bench); once it holds
    /// [`connection::WAL_RESET_PAGES`], the thread waits for the readers and resets it.
    fn spawn_checkpointer(&self, url: &DatabaseUrl, checkpoints: Checkpoints) -> Result<(), StoreError> {
        use diesel::connection::SimpleConnection as _;
        use diesel::r2d2::ManageConnection as _;
        let mut conn = ConnectionFactory::new(url.clone(), checkpoints)
            .connect()
            .map_err(|e| StoreError::Connection(e.to_string()))?;
        // A reset holds writers back while it waits for readers: give up after 100 ms (a long
        // read transaction) and try again next round, rather than stall writes for the 10 s
        // busy timeout of the other connections.
        conn.batch_execute("PRAGMA busy_timeout = 100;").map_err(|e| StoreError::Connection(e.to_string()))?;
        let alive = std::sync::Arc::downgrade(&self.alive);
        std::thread::Builder::new()
            .name("sqlite-checkpointer".into())
            .spawn(move || {
                let mut failing = false;
                while alive.strong_count() > 0 {
                    std::thread::sleep(connection::BACKGROUND_CHECKPOINT_EVERY);
                    match connection::checkpoint(&mut conn, connection::WAL_RESET_PAGES) {
                        Ok(()) => failing = false,
                        // Told once per spell of failures.
                        Err(e) if !failing => {
                            failing = true;
                            tracing::warn!(detail = %e, "background WAL checkpoint failed");
                        }
                        Err(_) => {}
                    }
                }
            })
            .map_err(|e| StoreError::Connection(format!("starting the checkpointer: {e}")))?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations under a lock; returns the names of those applied.
    pub fn migrate(&self) -> Result<Vec<String>, StoreError> {
        migrations::run_pending(&mut *self.conn()?)
    }

    /// Whether the database answers `SELECT 1` on a connection got within `timeout` (the
    /// readiness probe).
    pub fn ping(&self, timeout: std::time::Duration) -> Result<(), StoreError> {
        use diesel::connection::SimpleConnection as _;
        let mut conn = self.pool.get_timeout(timeout).map(Conn).map_err(|e| StoreError::Connection(e.to_string()))?;
        Ok(conn.batch_execute("SELECT 1")?)
    }

    fn conn(&self) -> Result<Conn, StoreError> {
        let started = std::time::Instant::now();
        let conn = self.pool.get().map(Conn).map_err(|e| StoreError::Connection(e.to_string()));
        metrics::histogram!("yagona_db_pool_wait_seconds").record(started.elapsed().as_secs_f64());
        conn
    }

    /// The pool's connections now (for the metrics).
    pub fn pool_state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState { connections: state.connections, idle: state.idle_connections, max: self.pool.max_size() }
    }

    /// Runs `f` in a transaction.
    fn transaction<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError>,
    {
        use diesel::Connection as _;
        let mut conn = self.conn()?;
        (*conn).transaction(f)
    }
}

#[cfg(test)]
mod query_plans;
#[cfg(test)]
mod tests;

/// The SQLite database holds password hashes, sealed keys and personal data: it is created
/// readable by its owner only (0600) before SQLite opens it, and SQLite creates its `-wal` and
/// `-shm` files with the database file's permissions. A database created before (0644 under the
/// usual umask) has its files narrowed to 0600 at open.
fn make_private(path: &std::path::Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("creating {}: {e}", path.display())),
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            let Ok(meta) = std::fs::metadata(&file) else { continue };
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| format!("making {} private: {e}", file.display()))?;
                tracing::warn!(path = %file.display(), "database file was readable by others: now 0600");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
