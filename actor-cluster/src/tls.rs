//! Optional mutual TLS between nodes, with rustls (through ractor_cluster's
//! TLS mode).
//!
//! Every node presents a certificate signed by the cluster's CA and accepts
//! only peers whose certificate that CA signed. Peers are verified against
//! the DNS name [`TLS_SERVER_NAME`], which every node certificate must
//! carry: a private CA per cluster is what makes that name meaningful.
//! `foundation certs` makes such a CA and node certificates.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::error::{ConfigError, Result};

/// The DNS name every node certificate carries and peers verify.
pub const TLS_SERVER_NAME: &str = "foundation";

/// PEM files for mutual TLS: this node's certificate chain and key, and the
/// cluster CA that signs every node's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
}

impl Tls {
    /// Mutual TLS from PEM files: `cert` (chain), `key` (PKCS#8, PKCS#1 or
    /// SEC1) and `ca` (one or more CA certificates).
    pub fn from_pem_files(
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
        ca: impl Into<PathBuf>,
    ) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
            ca: ca.into(),
        }
    }

    /// Loads the files and builds both sides of the connection.
    pub(crate) fn load(&self) -> Result<TlsSetup> {
        let certs = certs_of(&self.cert)?;
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| pem_error(&self.key, e))?;
        let mut roots = RootCertStore::empty();
        for ca in certs_of(&self.ca)? {
            roots.add(ca).map_err(|e| invalid(&self.ca, e))?;
        }
        let roots = Arc::new(roots);
        let verifier = WebPkiClientVerifier::builder(Arc::clone(&roots))
            .build()
            .map_err(|e| invalid(&self.ca, e))?;
        let server = ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs.clone(), key.clone_key())
            .map_err(|e| invalid(&self.cert, e))?;
        let client = ClientConfig::builder()
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .map_err(|e| invalid(&self.cert, e))?;
        Ok(TlsSetup {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
        })
    }
}

/// A file that was read but cannot be used: not PEM, or refused by rustls.
fn invalid(path: &Path, e: impl std::error::Error + Send + Sync + 'static) -> ConfigError {
    ConfigError::TlsInvalid {
        path: path.to_owned(),
        source: Arc::new(e),
    }
}

/// A PEM file that could not be read (its I/O error) or parsed.
fn pem_error(path: &Path, e: pem::Error) -> ConfigError {
    match e {
        pem::Error::Io(source) => ConfigError::TlsUnreadable {
            path: path.to_owned(),
            source: Arc::new(source),
        },
        e => invalid(path, e),
    }
}

fn certs_of(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(ConfigError::TlsNoCertificate {
            path: path.to_owned(),
        }
        .into());
    }
    Ok(certs)
}

/// Both sides of a node's TLS, built once at start.
#[derive(Clone)]
pub(crate) struct TlsSetup {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) connector: TlsConnector,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsSetup")
    }
}

impl TlsSetup {
    pub(crate) fn server_name() -> ServerName<'static> {
        ServerName::try_from(TLS_SERVER_NAME).expect("a valid DNS name")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClusterError;

    fn load(cert: &Path) -> ClusterError {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        Tls::from_pem_files(cert, &manifest, &manifest)
            .load()
            .unwrap_err()
    }

    #[test]
    fn a_missing_file_is_unreadable_with_its_io_error() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("no-such-cert.pem");
        let err = load(&path);
        let ClusterError::Config(ConfigError::TlsUnreadable { path: p, source }) = &err else {
            panic!("expected an unreadable TLS file, got {err:?}");
        };
        assert_eq!(*p, path);
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_file_without_certificates_says_so() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let err = load(&path);
        assert!(
            matches!(&err, ClusterError::Config(ConfigError::TlsNoCertificate { path: p }) if *p == path),
            "{err:?}"
        );
    }
}
