//! `yagona pki`: the development CA, key files, CRLs and signatures.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::config::Settings;
use crate::serve::open_store;
use crate::state;
use crate::state::now;

use super::read_password;

#[derive(Subcommand)]
pub(super) enum PkiCommand {
    /// Show each configured trust anchor and what its certificates' revocation is checked
    /// against (CRL, none: refused, operator opt-out, E-IMZO-server), each CRL source with its
    /// dates and when a server last loaded it. Exits 1 when an anchor accepts no certificate
    /// (no CRL and not opted out, or its CRL is past its next update), for monitoring.
    Status,
    /// A development certification authority, to try EDS without a real one.
    #[command(subcommand)]
    DevCa(DevCaCommand),
    /// Issue an individual's or a legal entity's certificate with the national OIDs, as a
    /// password-protected .p12 key file (the password is read from standard input).
    Issue(PkiIssue),
    /// Revoke a certificate issued by the development CA and write the CA's CRL (DIR/crl.pem).
    Revoke {
        /// The development CA's folder.
        #[arg(long)]
        ca: PathBuf,
        /// The certificate to revoke (PEM, as `pki issue` writes it beside the .p12).
        #[arg(long)]
        cert: PathBuf,
    },
    /// Sign TEXT with a .p12 key file (password on standard input) and print the attached CMS in
    /// base64, as E-IMZO's create_pkcs7 does.
    Sign {
        #[arg(long)]
        p12: PathBuf,
        #[arg(long, required = true)]
        password_stdin: bool,
        /// The text to sign (a challenge).
        #[arg(long, allow_hyphen_values = true)]
        data: String,
    },
}

#[derive(Subcommand)]
pub(super) enum DevCaCommand {
    /// Create the CA: DIR/ca.pem (the certificate, to configure as eds.trust_anchors) and
    /// DIR/ca.key (its private key).
    Init {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "Yagona Development CA")]
        name: String,
    },
}

#[derive(Args)]
pub(super) struct PkiIssue {
    /// The development CA's folder.
    #[arg(long)]
    ca: PathBuf,
    /// The holder's PINFL (OID 1.2.860.3.16.1.2).
    #[arg(long)]
    pinfl: String,
    /// The holder's full name: SURNAME NAME PATRONYMIC.
    #[arg(long)]
    name: String,
    /// For a legal entity's certificate: the company's TIN (OID 1.2.860.3.16.1.1).
    #[arg(long, requires = "org")]
    tin: Option<String>,
    /// The company's name (O).
    #[arg(long)]
    org: Option<String>,
    /// The holder's title in the company (T), e.g. Director.
    #[arg(long)]
    title: Option<String>,
    /// The holder's personal TIN (UID).
    #[arg(long)]
    personal_tin: Option<String>,
    /// Key algorithm: rsa (RSA-2048) or ecdsa (P-256).
    #[arg(long, default_value = "rsa")]
    alg: String,
    /// Days of validity from now (negative: an already expired certificate, for tests).
    #[arg(long, default_value_t = 730, allow_hyphen_values = true)]
    days: i64,
    /// Days before now the validity starts (negative: not yet valid).
    #[arg(long, default_value_t = 1, allow_hyphen_values = true)]
    days_before: i64,
    /// Where to write the .p12 key file; the certificate is written beside it as .crt (PEM).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, required = true)]
    password_stdin: bool,
}

pub(super) fn pki_command(command: PkiCommand) -> Result<(), String> {
    use yagona_pki::dev_ca::{self, DevCa, KeyAlg, Subject};
    let text = |e: yagona_pki::PkiError| e.to_string();
    let load_ca = |dir: &std::path::Path| -> Result<DevCa, String> {
        let cert = std::fs::read_to_string(dir.join("ca.pem")).map_err(|e| format!("{}/ca.pem: {e}", dir.display()))?;
        let key = std::fs::read_to_string(dir.join("ca.key")).map_err(|e| format!("{}/ca.key: {e}", dir.display()))?;
        DevCa::load(&cert, &key).map_err(text)
    };
    match command {
        PkiCommand::Status => Err("`pki status` reads the configuration: run_cli handles it".into()),
        PkiCommand::DevCa(DevCaCommand::Init { out, name }) => {
            std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
            if out.join("ca.pem").exists() {
                return Err(format!("{} already holds a CA", out.display()));
            }
            let ca = DevCa::init(&name, now()).map_err(text)?;
            std::fs::write(out.join("ca.pem"), &ca.cert_pem).map_err(|e| e.to_string())?;
            state::write_private_file(&out.join("ca.key"), &ca.key_pkcs8_pem)?;
            // An empty CRL from the start, so `eds.crls` can name it before anything is revoked.
            let crl = dev_ca::revoke(&ca, &[], now(), now() + 7 * 86_400).map_err(text)?;
            std::fs::write(out.join("crl.der"), crl).map_err(|e| e.to_string())?;
            out!("CA certificate: {}", out.join("ca.pem").display());
            out!("Trust it with: YAGONA_EDS__TRUST_ANCHORS='[\"{}\"]'", out.join("ca.pem").display());
            Ok(())
        }
        PkiCommand::Issue(args) => {
            let ca = load_ca(&args.ca)?;
            let password = read_password()?;
            let alg = match args.alg.as_str() {
                "rsa" => KeyAlg::Rsa,
                "ecdsa" => KeyAlg::Ecdsa,
                other => return Err(format!("--alg must be rsa or ecdsa, not {other}")),
            };
            let now = now();
            let subject = Subject {
                pinfl: args.pinfl,
                name: args.name,
                tin: args.personal_tin,
                legal_tin: args.tin,
                org: args.org,
                title: args.title,
                alg,
                not_before: now - args.days_before * 86_400,
                not_after: now + args.days * 86_400,
                key_usage_signing: true,
            };
            let issued = dev_ca::issue(&ca, &subject).map_err(text)?;
            let p12 = dev_ca::to_pkcs12(&issued, &ca, &password).map_err(text)?;
            // The key file is the holder's private key: 0600 from its creation (an older file
            // at that path is replaced, not rewritten with its old permissions).
            if args.out.exists() {
                std::fs::remove_file(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
            }
            state::write_private_file(&args.out, p12)?;
            let cert_path = args.out.with_extension("crt");
            std::fs::write(&cert_path, dev_ca::certificate_pem(&issued.cert_der).map_err(text)?)
                .map_err(|e| format!("{}: {e}", cert_path.display()))?;
            out!("serial: {}", issued.serial_hex);
            out!("key file: {}", args.out.display());
            out!("certificate: {}", cert_path.display());
            Ok(())
        }
        PkiCommand::Revoke { ca: dir, cert } => {
            let ca = load_ca(&dir)?;
            let pem = std::fs::read_to_string(&cert).map_err(|e| format!("{}: {e}", cert.display()))?;
            let serial = dev_ca::certificate_serial(&pem).map_err(text)?;
            // The CA's revocation list is kept as lines "serial unix-time" beside it.
            let list_path = dir.join("revoked.txt");
            let mut list = std::fs::read_to_string(&list_path).unwrap_or_default();
            if !list.lines().any(|l| l.split_whitespace().next() == Some(serial.as_str())) {
                list.push_str(&format!("{serial} {}\n", now()));
            }
            std::fs::write(&list_path, &list).map_err(|e| format!("{}: {e}", list_path.display()))?;
            let revoked: Vec<(String, i64)> = list
                .lines()
                .filter_map(|l| {
                    let mut parts = l.split_whitespace();
                    Some((parts.next()?.to_owned(), parts.next()?.parse().ok()?))
                })
                .collect();
            let crl = dev_ca::revoke(&ca, &revoked, now(), now() + 7 * 86_400).map_err(text)?;
            std::fs::write(dir.join("crl.der"), crl).map_err(|e| e.to_string())?;
            out!("revoked: {serial}");
            out!("CRL: {}", dir.join("crl.der").display());
            Ok(())
        }
        PkiCommand::Sign { p12, password_stdin: _, data } => {
            let password = read_password()?;
            let bytes = std::fs::read(&p12).map_err(|e| format!("{}: {e}", p12.display()))?;
            let issued = dev_ca::from_pkcs12(&bytes, &password).map_err(text)?;
            let cms = dev_ca::sign_attached(&issued, data.as_bytes(), now()).map_err(text)?;
            out!("{}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, cms));
            Ok(())
        }
    }
}

/// `yagona pki status` (needs the configuration and the database, unlike the other pki tools).
pub(super) fn pki_status(settings: &Settings) -> Result<(), String> {
    use crate::trust::{load, rfc3339};
    let now = now();
    let (trust, loads) = load(&settings.eds, &settings.outbound.tls());
    let store = open_store(settings)?;
    let records = store.crl_sources().map_err(|e| e.to_string())?;
    let mut refusing = 0;
    if let Ok(trust) = &trust {
        if trust.anchors.is_empty() {
            out!("no trust anchors: EDS is off");
        }
        for (file, anchor) in &trust.anchors {
            out!("anchor {}", file.display());
            out!("  subject: {}", anchor.subject());
            out!("  revocation: {}", anchor.revocation());
            if !anchor.accepts_certificates(now) {
                refusing += 1;
                out!("  REFUSES every certificate now");
            }
        }
    }
    for load in &loads {
        out!("crl {}", load.source);
        match &load.result {
            Ok(c) => {
                let next = c.next_update.map_or("none".to_owned(), rfc3339);
                let past = if c.next_update.is_some_and(|n| n < now) { " (PAST)" } else { "" };
                out!("  issuer: {}", c.issuer);
                out!("  this update {}, next update {next}{past}, {} revoked", rfc3339(c.this_update), c.revoked);
            }
            Err(e) => out!("  cannot be read now: {e}"),
        }
        match records.iter().find(|r| r.source == load.source) {
            Some(r) => {
                match r.loaded_at {
                    Some(at) => out!("  loaded by a server at {}", rfc3339(at)),
                    None => out!("  never loaded by a server"),
                }
                if let (Some(at), Some(error)) = (r.failed_at, &r.error) {
                    out!("  last failure at {}: {error}", rfc3339(at));
                }
            }
            None => out!("  never loaded by a server"),
        }
    }
    trust?;
    if refusing > 0 {
        return Err(format!("{refusing} trust anchor(s) accept no certificate now"));
    }
    Ok(())
}
