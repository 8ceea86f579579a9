//! `yagona serve`: open the database, migrate, make sure keys exist, and serve HTTP.

use std::path::PathBuf;
use std::time::Duration;

use actix_web::{middleware, web, App, HttpServer};
use yagona_store::{Checkpoints, Store};

use crate::config::Settings;
use crate::http;
use crate::state::{ensure_signing_keys, now, resolve_kek, AppState};

/// The folder for files beside the database (the development key-encryption key).
pub fn data_dir(settings: &Settings) -> PathBuf {
    settings.database.sqlite_folder().unwrap_or_else(|| PathBuf::from("./data"))
}

/// Opens the database and applies pending migrations (for the CLI's short runs).
pub fn open_store(settings: &Settings) -> Result<Store, String> {
    open_store_with(settings, Checkpoints::OnCommit)
}

/// [`open_store`], choosing who checkpoints SQLite's log: the server does it in the background.
fn open_store_with(settings: &Settings, checkpoints: Checkpoints) -> Result<Store, String> {
    let store = Store::open_with(&settings.database, settings.pool_size, checkpoints, settings.acquire_timeout)
        .map_err(|e| format!("database: {e}"))?;
    let applied = store.migrate().map_err(|e| format!("database: {e}"))?;
    for name in applied {
        tracing::info!(migration = %name, "migration applied");
    }
    Ok(store)
}

/// The key-encryption key's file when it lies in the SQLite database's folder: the configured
/// `keys.encryption_key_file`, or the generated `kek` beside the database when none is configured.
fn kek_beside_database(settings: &Settings) -> Option<PathBuf> {
    let database_folder = settings.database.sqlite_folder()?;
    let kek = match (&settings.encryption_key_file, &settings.encryption_key) {
        (Some(file), _) => file.clone(),
        (None, None) => database_folder.join("kek"),
        (None, Some(_)) => return None,
    };
    let folder = |p: &std::path::Path| {
        let p = if p.as_os_str().is_empty() { std::path::Path::new(".") } else { p };
        std::fs::canonicalize(p).ok()
    };
    let same = kek.exists() && folder(kek.parent()?)? == folder(&database_folder)?;
    same.then_some(kek)
}

/// Builds the shared state: database, key-encryption key, signing keys.
pub fn prepare(mut settings: Settings, dev: bool) -> Result<AppState, String> {
    if dev {
        // The demo relying party runs on this machine.
        settings.outbound = settings.outbound.with_loopback();
    }
    crate::i18n::check_catalogues()?;
    let store = open_store_with(&settings, Checkpoints::Background)?;
    let kek = resolve_kek(&settings, dev, &data_dir(&settings))?;
    if let Some(path) = kek_beside_database(&settings).filter(|_| !dev) {
        tracing::warn!(
            path = %path.display(),
            "the key-encryption key lies in the database's folder: a copy or backup of that folder \
             holds both the sealed signing keys and the key that opens them; keep it apart \
             (keys.encryption_key_file on another volume, or a secret store)"
        );
    }
    for created in ensure_signing_keys(&store, &kek).map_err(|e| e.description.into_owned())? {
        tracing::info!(key = %created, "signing key generated");
    }
    crate::http::pages::set_eimzo_sources(&settings.eds.eimzo_urls);
    let _ = crate::http::error::CLIENT_AUTH_RETRY_AFTER.set(settings.client_auth.window_seconds);
    crate::http::pages::set_time_zone(settings.time_zone);
    let (trust, loads) = crate::trust::load(&settings.eds, &settings.outbound.tls());
    crate::trust::record_loads(&store, &loads, now());
    let trust = trust?;
    if trust.verifier.is_some() {
        tracing::info!(anchors = trust.anchors.len(), crls = settings.eds.crls.len(), "EDS verification on");
        crate::trust::log_anchors(&trust, now(), true);
    }
    let mailer = crate::mail::Mailer::from_config(&settings.mail, dev)?;
    let mut state = AppState::new(settings, store, kek)?;
    state.mailer = mailer;
    state.set_eds(trust.verifier);
    Ok(state)
}

pub async fn run(state: AppState) -> Result<(), String> {
    let listen = state.settings.listen;
    let workers = state.settings.workers;
    let state = web::Data::new(state);
    let state_for_signals = state.clone();
    let background = state.clone();
    let activation = state.clone();
    actix_web::rt::spawn(async move { activate_keys_on_time(activation).await });
    let listener = state.clone();
    state
        .store
        .listen_for_key_changes(&state.settings.database, move || match listener.reload_keys() {
            Ok(()) => tracing::info!("signing keys reloaded on another process's notice"),
            Err(e) => tracing::error!(detail = %e, "reloading keys failed"),
        })
        .map_err(|e| format!("database: {e}"))?;
    actix_web::rt::spawn(async move { housekeeping(background).await });
    let logouts = state.clone();
    actix_web::rt::spawn(async move { crate::backchannel::deliver_logouts(logouts).await });
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(middleware::from_fn(http::cors::cors))
            .wrap(middleware::from_fn(http::request_span))
            .configure(http::routes)
    })
    .bind(listen)
    .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    if workers > 0 {
        server = server.workers(workers);
    }
    let grace = state_for_signals.settings.shutdown_grace;
    // Signals are ours: SIGTERM drains (below); actix's own handling would stop at once.
    let server = server.disable_signals().shutdown_timeout(grace.as_secs().max(5)).run();
    let mut handles = vec![server.handle()];
    let metrics = match state_for_signals.settings.metrics_listen {
        Some(addr) => {
            crate::metrics::install()?;
            let state = state_for_signals.clone();
            let metrics = HttpServer::new(move || {
                App::new().app_data(state.clone()).route("/metrics", web::get().to(serve_metrics))
            })
            .workers(1)
            .disable_signals()
            .bind(addr)
            .map_err(|e| format!("cannot listen on {addr} (metrics.listen): {e}"))?
            .run();
            handles.push(metrics.handle());
            tracing::info!(listen = %addr, "metrics at /metrics");
            Some(actix_web::rt::spawn(metrics))
        }
        None => None,
    };
    actix_web::rt::spawn(async move { stop_on_signal(state_for_signals, handles, grace).await });
    tracing::info!(%listen, "Yagona is listening");
    let served = server.await.map_err(|e| format!("server: {e}"));
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    served
}

/// `GET /metrics` on `metrics.listen`.
async fn serve_metrics(state: web::Data<AppState>) -> actix_web::HttpResponse {
    match web::block(move || crate::metrics::render(&state)).await {
        Ok(text) => actix_web::HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(text),
        Err(e) => {
            tracing::error!(detail = %e, "rendering the metrics failed");
            actix_web::HttpResponse::InternalServerError().finish()
        }
    }
}

/// SIGTERM (orchestrators, `docker stop`): readiness turns 503 at once, requests are served for
/// `grace` while the load balancer notices, then the listener closes and in-flight requests
/// finish. SIGINT (Ctrl-C): the listener closes at once, in-flight requests finish.
async fn stop_on_signal(state: web::Data<AppState>, handles: Vec<actix_web::dev::ServerHandle>, grace: Duration) {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot listen for SIGTERM/SIGINT; stopping needs SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => {
            state.draining.store(true, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(grace_seconds = grace.as_secs(), "SIGTERM: draining (readiness answers 503)");
            actix_web::rt::time::sleep(grace).await;
        }
        _ = int.recv() => {
            state.draining.store(true, std::sync::atomic::Ordering::Relaxed);
            tracing::info!("SIGINT: stopping")
        }
    }
    tracing::info!("closing the listener; finishing requests in flight");
    for handle in handles {
        handle.stop(true).await;
    }
}

/// A scheduled key starts signing at its activation time on every node: the ring knows when,
/// and is loaded again then (checked every second; no database work until a key is due).
async fn activate_keys_on_time(state: web::Data<AppState>) {
    let mut tick = actix_web::rt::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if state.keys().next_activation().is_some_and(|at| at <= now()) {
            let s = state.clone();
            match web::block(move || s.reload_keys()).await {
                Ok(Ok(())) => tracing::info!("a scheduled signing key signs from now on"),
                Ok(Err(e)) => tracing::error!(detail = %e, "activating a scheduled key failed"),
                Err(e) => tracing::error!(detail = %e, "activating a scheduled key failed"),
            }
        }
    }
}

/// Every 30 s: pick up rotated keys (the fallback for lost notifications); every 10 min:
/// delete expired rows.
async fn housekeeping(state: web::Data<AppState>) {
    let mut tick = actix_web::rt::time::interval(Duration::from_secs(30));
    let mut rounds: u64 = 0;
    loop {
        tick.tick().await;
        rounds += 1;
        let s = state.clone();
        // `purge.interval` in 30-second rounds (at least one); never when it is 0.
        let purge =
            state.settings.purge_interval.is_some_and(|every| rounds.is_multiple_of((every.as_secs() / 30).max(1)));
        // CRLs are re-read every `eds.crl_refresh` seconds (in 30-second rounds).
        let crl_rounds = u64::try_from(state.settings.eds.crl_refresh / 30).unwrap_or(1).max(1);
        let refresh_crls = rounds.is_multiple_of(crl_rounds);
        let result = web::block(move || {
            s.reload_keys()?;
            if refresh_crls {
                let (trust, loads) = crate::trust::load(&s.settings.eds, &s.settings.outbound.tls());
                crate::trust::record_loads(&s.store, &loads, now());
                match trust {
                    Ok(trust) => {
                        crate::trust::log_anchors(&trust, now(), false);
                        s.set_eds(trust.verifier)
                    }
                    Err(e) => {
                        tracing::error!(detail = %e, "reloading EDS trust and CRLs failed; keeping the previous ones")
                    }
                }
            }
            if purge {
                let method = crate::housekeeping::PurgeMethod::Batches(yagona_store::PurgeBatches::for_backend(
                    s.store.backend(),
                ));
                let done = crate::housekeeping::purge(&s.store, &s.settings, now(), method, &s.draining)?;
                let audit_stopped = done.audit_events.as_ref().is_some_and(|a| a.stopped);
                if done.expired.stopped || audit_stopped {
                    tracing::info!(
                        rows = done.expired.rows(),
                        "the purge stopped for the shutdown; the next one goes on"
                    );
                }
                if done.memberships_ended > 0 {
                    tracing::info!(memberships = done.memberships_ended, "expired memberships ended");
                }
                if let Some(old) = &done.audit_events {
                    tracing::debug!(
                        rows = old.rows(),
                        seconds = old.seconds,
                        "audit events past the retention deleted"
                    );
                }
                tracing::debug!(rows = done.expired.rows(), seconds = done.expired.seconds, "expired rows purged");
            }
            Ok::<_, String>(())
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(detail = %e, "housekeeping failed"),
            Err(e) => tracing::error!(detail = %e, "housekeeping task failed"),
        }
    }
}
