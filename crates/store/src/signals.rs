//! Signals between the nodes of a cluster over PostgreSQL `LISTEN`/`NOTIFY`: when one process
//! (a node, or `yagona keys rotate`) changes the signing keys, every node loads them again at
//! once instead of at its next 30-second poll. The poll stays: a node whose listening connection
//! was down catches up when it reconnects, and SQLite has no notifications (one node).

use diesel::connection::SimpleConnection as _;
use diesel::pg::PgConnection;
use diesel::Connection as _;

use crate::{Backend, DatabaseUrl, Store, StoreError};

const KEYS_CHANNEL: &str = "yagona_keys";
/// How often the listener reads what arrived on its connection (no query, a socket read).
const LISTEN_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

impl Store {
    /// Tells every listening node that the signing keys changed (PostgreSQL; nothing on SQLite).
    pub fn notify_key_change(&self) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        Ok(self.conn()?.batch_execute(&format!("NOTIFY {KEYS_CHANNEL}"))?)
    }

    /// Runs `on_change` whenever another process announces a key change, from a thread with its
    /// own connection (reconnecting after a failure, and running `on_change` then too, since
    /// notifications sent meanwhile are lost). Nothing on SQLite.
    pub fn listen_for_key_changes(
        &self,
        url: &DatabaseUrl,
        on_change: impl Fn() + Send + 'static,
    ) -> Result<(), StoreError> {
        let DatabaseUrl::Postgres(url) = url else { return Ok(()) };
        let url = url.clone();
        let alive = std::sync::Arc::downgrade(&self.alive);
        std::thread::Builder::new()
            .name("key-listener".into())
            .spawn(move || {
                let mut listening: Option<PgConnection> = None;
                let mut failing = false;
                while alive.strong_count() > 0 {
                    let Some(conn) = listening.as_mut() else {
                        match PgConnection::establish(&url).map_err(|e| e.to_string()).and_then(|mut c| {
                            c.batch_execute(&format!("LISTEN {KEYS_CHANNEL}")).map(|()| c).map_err(|e| e.to_string())
                        }) {
                            Ok(conn) => {
                                listening = Some(conn);
                                if failing {
                                    on_change();
                                }
                                failing = false;
                            }
                            Err(e) => {
                                if !failing {
                                    tracing::warn!(detail = %e, "listening for key changes failed; retrying");
                                }
                                failing = true;
                                std::thread::sleep(std::time::Duration::from_secs(1));
                            }
                        }
                        continue;
                    };
                    let (mut changed, mut broken) = (false, false);
                    for notification in conn.notifications_iter() {
                        match notification {
                            Ok(_) => changed = true,
                            Err(_) => {
                                broken = true;
                                break;
                            }
                        }
                    }
                    if changed {
                        on_change();
                    }
                    if broken {
                        listening = None;
                        failing = true;
                    }
                    std::thread::sleep(LISTEN_EVERY);
                }
            })
            .map_err(|e| StoreError::Connection(format!("starting the key listener: {e}")))?;
        Ok(())
    }
}
