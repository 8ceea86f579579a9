//! A TCP proxy the tests put between a server and PostgreSQL, to cut the database off and bring
//! it back (an outage as the server sees it) without stopping the machine's PostgreSQL, which
//! other tests use at the same time.

use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct TcpProxy {
    pub port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl TcpProxy {
    /// Listens on a free port and forwards every connection to `target` (host:port).
    pub async fn start(target: &str) -> TcpProxy {
        // Below the ephemeral range, so the port is still free when the proxy listens again.
        let port = crate::free_port();
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let proxy = TcpProxy { port, target: target.to_owned(), tasks: Arc::default() };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let (target, tasks) = (self.target.clone(), self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let forward = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(forward);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// The database is gone: open connections are dropped and new ones refused.
    pub fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// The database is back, on the same port.
    pub async fn restore(&self) {
        // The old listener is closed once its aborted task is dropped; retry the bind briefly.
        for _ in 0..100 {
            if let Ok(listener) = TcpListener::bind(("127.0.0.1", self.port)).await {
                self.serve(listener);
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("could not listen on port {} again", self.port);
    }
}
