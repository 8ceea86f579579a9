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
mod connection;
mod error;
mod legal;
mod migrations;
mod oidc;
mod prepared;
mod rows;
mod schema;

pub use connection::{Backend, DatabaseUrl, DbConnection};
pub use error::StoreError;

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

/// The database: a pool of connections to one SQLite file or one PostgreSQL database.
#[derive(Clone)]
pub struct Store {
    pool: Pool<ConnectionFactory>,
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens a pool of `pool_size` connections; a SQLite file and its folder are created if
    /// missing.
    pub fn open(url: &DatabaseUrl, pool_size: u32) -> Result<Self, StoreError> {
        if let DatabaseUrl::Sqlite(path) = url {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| StoreError::Connection(format!("creating {}: {e}", parent.display())))?;
            }
        }
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            .connection_timeout(std::time::Duration::from_secs(10))
            .build(ConnectionFactory::new(url.clone()))
            .map_err(|e| StoreError::Connection(e.to_string()))?;
        Ok(Self { pool, backend: url.backend() })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations under a lock; returns the names of those applied.
    pub fn migrate(&self) -> Result<Vec<String>, StoreError> {
        migrations::run_pending(&mut *self.conn()?)
    }

    fn conn(&self) -> Result<Conn, StoreError> {
        self.pool.get().map(Conn).map_err(|e| StoreError::Connection(e.to_string()))
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
mod tests;
