//! Logging with `tracing`: human-readable by default, JSON lines by configuration. Every line
//! written while serving a request carries the request's span, and with it the request id.

use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Whether log lines are JSON (set by [`init`]).
static JSON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// A fatal error before or after logging started, in the log's format: a JSON object when logs
/// are JSON (also when the configuration failed and only `YAGONA_LOG__FORMAT=json` says so), so
/// log collectors parse the reason a process did not start.
pub fn fatal(message: &str) {
    let json = JSON
        .get()
        .copied()
        .unwrap_or_else(|| std::env::var("YAGONA_LOG__FORMAT").is_ok_and(|f| f.trim().eq_ignore_ascii_case("json")));
    if json {
        let line = serde_json::json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "level": "ERROR",
            "fields": { "message": message },
            "target": "yagona",
        });
        eprintln!("{line}");
    } else {
        eprintln!("error: {message}");
    }
}

pub fn init(config: &LogConfig) {
    let _ = JSON.set(matches!(config.format, LogFormat::Json));
    let filter = EnvFilter::try_new(&config.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    // A second init (tests calling in-process) is harmless: keep the first subscriber.
    let _ = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
    };
}
