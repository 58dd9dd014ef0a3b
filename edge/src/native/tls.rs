//! TLS to Postgres with libpq's `sslmode` and `sslrootcert` semantics, on rustls
//! ([`tokio_postgres_rustls`]), for every connection the native host opens: the pools, the change
//! feed, the index rebuild.
//!
//! | sslmode | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default) | if the server offers it | not checked (checked as `verify-ca` when `sslrootcert` is set) |
//! | `require` | always | as `prefer` |
//! | `verify-ca` | always | chains to `sslrootcert` |
//! | `verify-full` | always | chains to `sslrootcert` and names the host |
//!
//! `sslrootcert` is a PEM file or `system` (the operating system's roots); without it, `verify-*`
//! reads `~/.postgresql/root.crt` as libpq does, and fails clearly when that is missing.

use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use tokio_postgres::config::SslMode;
use tokio_postgres::Config;
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// A database URL made ready to connect: tokio-postgres' configuration and the TLS connector
/// that enforces the URL's `sslmode`.
#[derive(Clone)]
pub struct PgTarget {
    pub config: Config,
    pub tls: MakeRustlsConnect,
    pub mode: TlsMode,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        write!(f, "PgTarget({}, {:?})", hosts(&self.config), self.mode)
    }
}

/// `host:port` of every host the configuration names, for messages.
pub fn hosts(config: &Config) -> String {
    let ports = config.get_ports();
    config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            format!("{host}:{port}")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A driver error with its causes (a TLS failure's reason is in its source).
pub fn describe(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// Splits `sslmode` and `sslrootcert` (which tokio-postgres does not know in libpq's sense) off a
/// URL (`postgres://…?sslmode=…`) or a key-value string (`host=… sslmode=…`).
fn split_tls_params(url: &str) -> (String, Option<String>, Option<String>) {
    let (mut mode, mut root) = (None, None);
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_owned(), None, None);
        };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("sslmode", v)) => mode = Some(crate::http::percent_decode(v)),
                Some(("sslrootcert", v)) => root = Some(crate::http::percent_decode(v)),
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (rest, mode, root)
    } else {
        let mut kept = Vec::new();
        for token in url.split_whitespace() {
            match token.split_once('=') {
                Some(("sslmode", v)) => mode = Some(v.trim_matches('\'').to_owned()),
                Some(("sslrootcert", v)) => root = Some(v.trim_matches('\'').to_owned()),
                _ => kept.push(token),
            }
        }
        (kept.join(" "), mode, root)
    }
}

impl PgTarget {
    /// Parses `url`. Errors name what is wrong, never the URL (it may hold a password).
    pub fn parse(url: &str) -> Result<PgTarget, String> {
        PgTarget::parse_with_ca(url, None)
    }

    /// [`PgTarget::parse`], with the CA roots given as PEM text instead of `sslrootcert` (a Spin
    /// host's `connection-builder.set-ca-root`).
    pub fn parse_with_ca(url: &str, ca_pem: Option<&str>) -> Result<PgTarget, String> {
        let (rest, mode, root) = split_tls_params(url);
        let mode = match mode.as_deref() {
            None | Some("prefer") | Some("allow") => TlsMode::Prefer,
            Some("disable") => TlsMode::Disable,
            Some("require") => TlsMode::Require,
            Some("verify-ca") => TlsMode::VerifyCa,
            Some("verify-full") => TlsMode::VerifyFull,
            Some(other) => {
                return Err(format!(
                    "sslmode={other:?} is not one of disable, allow, prefer, require, verify-ca, \
                     verify-full"
                ))
            }
        };
        let mut config = Config::from_str(&rest).map_err(|e| format!("{e}"))?;
        config.ssl_mode(match mode {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        });
        let roots = match ca_pem {
            Some(pem) => Some(pem_roots(pem.as_bytes(), "the CA root")?),
            None => roots(
                root.as_deref(),
                matches!(mode, TlsMode::VerifyCa | TlsMode::VerifyFull),
            )?,
        };
        let tls = MakeRustlsConnect::new(client_config(mode, roots)?);
        Ok(PgTarget { config, tls, mode })
    }
}

/// A connection opened by [`connect`]: its driver must be polled (spawned) for the client to work.
pub type TlsConnection = tokio_postgres::Connection<
    tokio_postgres::Socket,
    <MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>>::Stream,
>;

/// Opens one connection to `url` with its `sslmode`; errors name the host and the reason.
pub async fn connect(url: &str) -> Result<(tokio_postgres::Client, TlsConnection), String> {
    let target = PgTarget::parse(url).map_err(|e| format!("invalid database URL: {e}"))?;
    target
        .config
        .connect(target.tls.clone())
        .await
        .map_err(|e| format!("{}: {}", hosts(&target.config), describe(&e)))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The roots `sslrootcert` names, or libpq's default file; `None` when there are none to use.
fn roots(root: Option<&str>, needed: bool) -> Result<Option<RootCertStore>, String> {
    let default_file = std::env::var_os("HOME")
        .map(|h| std::path::Path::new(&h).join(".postgresql/root.crt"))
        .filter(|p| p.is_file());
    let mut store = RootCertStore::empty();
    match root {
        Some("system") => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err("sslrootcert=system: no system root certificates found".into());
            }
        }
        Some(path) => load_pem(&mut store, std::path::Path::new(path))?,
        None => match default_file {
            Some(path) => load_pem(&mut store, &path)?,
            None if needed => {
                return Err(
                    "sslmode=verify-ca and verify-full need the server's CA: set \
                     sslrootcert=<PEM file> (or sslrootcert=system) in the URL"
                        .into(),
                )
            }
            None => return Ok(None),
        },
    }
    Ok(Some(store))
}

fn load_pem(store: &mut RootCertStore, path: &std::path::Path) -> Result<(), String> {
    let what = format!("sslrootcert {}", path.display());
    let bytes = std::fs::read(path).map_err(|e| format!("{what}: {e}"))?;
    *store = pem_roots(&bytes, &what)?;
    Ok(())
}

/// The certificates of a PEM document as roots.
fn pem_roots(pem: &[u8], what: &str) -> Result<RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what}: {e}"))?;
    let mut store = RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("{what}: no certificate in it"));
    }
    Ok(store)
}

fn client_config(mode: TlsMode, roots: Option<RootCertStore>) -> Result<ClientConfig, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let verifier: Arc<dyn ServerCertVerifier> = match (roots, mode) {
        (None, _) => Arc::new(Unverified(provider)),
        (Some(store), mode) => {
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider)
                .build()
                .map_err(|e| e.to_string())?;
            if mode == TlsMode::VerifyFull {
                webpki
            } else {
                // libpq: with a root certificate, prefer and require verify the chain too.
                Arc::new(ChainOnly(webpki))
            }
        }
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// `prefer` and `require` without a root certificate (libpq): encrypted, the peer unchecked;
/// the handshake's signatures are still verified.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must reach a root; the name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_off_both_url_forms() {
        let (rest, mode, root) =
            split_tls_params("postgres://u:p@db:5432/x?sslmode=verify-full&application_name=a&sslrootcert=%2Fetc%2Fca.pem");
        assert_eq!(rest, "postgres://u:p@db:5432/x?application_name=a");
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(root.as_deref(), Some("/etc/ca.pem"));
        let (rest, mode, root) = split_tls_params("host=db user=u sslmode=require");
        assert_eq!(
            (rest.as_str(), mode.as_deref(), root),
            ("host=db user=u", Some("require"), None)
        );
    }

    #[test]
    fn modes_parse_and_verify_modes_need_a_root() {
        let t = PgTarget::parse("postgres://u@db/x").unwrap();
        assert_eq!(
            (t.mode, t.config.get_ssl_mode()),
            (TlsMode::Prefer, SslMode::Prefer)
        );
        let t = PgTarget::parse("postgres://u@db/x?sslmode=disable").unwrap();
        assert_eq!(t.config.get_ssl_mode(), SslMode::Disable);
        let t = PgTarget::parse("postgres://u@db/x?sslmode=require").unwrap();
        assert_eq!(t.config.get_ssl_mode(), SslMode::Require);
        let err = PgTarget::parse("postgres://u:secret@db/x?sslmode=sometimes").unwrap_err();
        assert!(
            err.contains("sometimes") && !err.contains("secret"),
            "{err}"
        );
        if std::env::var_os("HOME").is_none_or(|h| {
            !std::path::Path::new(&h)
                .join(".postgresql/root.crt")
                .exists()
        }) {
            let err = PgTarget::parse("postgres://u@db/x?sslmode=verify-full").unwrap_err();
            assert!(err.contains("sslrootcert"), "{err}");
        }
        let err =
            PgTarget::parse("postgres://u@db/x?sslmode=verify-ca&sslrootcert=/nonexistent.pem")
                .unwrap_err();
        assert!(err.contains("/nonexistent.pem"), "{err}");
    }
}
