//! TLS with rustls, under redis-server's option names (`--tls-port`,
//! `--tls-cert-file`, `--tls-key-file`, `--tls-ca-cert-file`,
//! `--tls-ca-cert-dir`, `--tls-auth-clients`, `--tls-protocols`,
//! `--tls-ciphersuites`) and Valkey's `--tls-auth-clients-user CN`.
//!
//! [`Tls`] holds the files' paths and the rustls `ServerConfig` built from
//! them. Every TLS connection takes the config current when it is
//! accepted, so a reload (SIGHUP, `CONFIG SET tls-cert-file …`,
//! [`Tls::reload`]) applies to new connections while established ones
//! keep the session they negotiated. A reload that fails (a missing file,
//! a key that does not match) keeps the old config and says why.
//!
//! The connection code is the same for TLS and plain TCP: a TLS stream is
//! one more [`crate::connection::Transport`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::config::{Config, TlsAuthClients, TlsAuthUser};

/// Which file a `CONFIG SET` names.
#[derive(Clone, Copy, Debug)]
pub enum TlsFile {
    Cert,
    Key,
    CaFile,
    CaDir,
}

#[derive(Clone, Debug, Default)]
struct Files {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    ca_dir: Option<PathBuf>,
}

/// The settings that do not change at run time.
#[derive(Clone, Debug)]
struct Settings {
    auth_clients: TlsAuthClients,
    protocols: Option<String>,
    ciphersuites: Option<String>,
}

/// The TLS configuration of a server (see the module docs).
pub struct Tls {
    settings: Settings,
    files: Mutex<Files>,
    current: RwLock<Arc<ServerConfig>>,
    /// `--tls-auth-clients-user CN`: a client certificate's CN names the
    /// ACL user the connection starts as.
    pub cn_user: bool,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// The TLS configuration `config` asks for: None without
    /// `--tls-port`; an error (said as redis-server says what is wrong)
    /// when the files do not make one.
    pub fn from_config(config: &Config) -> Result<Option<Arc<Tls>>, String> {
        if config.tls_port == 0 {
            return Ok(None);
        }
        let files = Files {
            cert: config.tls_cert_file.clone(),
            key: config.tls_key_file.clone(),
            ca_file: config.tls_ca_cert_file.clone(),
            ca_dir: config.tls_ca_cert_dir.clone(),
        };
        let settings = Settings {
            auth_clients: config.tls_auth_clients,
            protocols: config.tls_protocols.clone(),
            ciphersuites: config.tls_ciphersuites.clone(),
        };
        let current = build(&files, &settings)?;
        Ok(Some(Arc::new(Tls {
            settings,
            files: Mutex::new(files),
            current: RwLock::new(current),
            cn_user: config.tls_auth_clients_user == TlsAuthUser::Cn,
        })))
    }

    /// What a new connection's handshake uses.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.read().clone())
    }

    /// Read the files again (SIGHUP). On failure the old configuration
    /// stays.
    pub fn reload(&self) -> Result<(), String> {
        let files = self.files.lock().clone();
        let config = build(&files, &self.settings)?;
        *self.current.write() = config;
        Ok(())
    }

    /// `CONFIG SET tls-cert-file … tls-key-file …`: use these paths and
    /// reload once; on failure neither the paths nor the configuration
    /// change.
    pub fn set_files(&self, changes: &[(TlsFile, &str)]) -> Result<(), String> {
        let mut files = self.files.lock().clone();
        for (which, path) in changes {
            let path = (!path.is_empty()).then(|| PathBuf::from(path));
            match which {
                TlsFile::Cert => files.cert = path,
                TlsFile::Key => files.key = path,
                TlsFile::CaFile => files.ca_file = path,
                TlsFile::CaDir => files.ca_dir = path,
            }
        }
        let config = build(&files, &self.settings)?;
        *self.files.lock() = files;
        *self.current.write() = config;
        Ok(())
    }

    /// The configured path of `which` (CONFIG GET).
    pub fn file(&self, which: TlsFile) -> String {
        let files = self.files.lock();
        let path = match which {
            TlsFile::Cert => &files.cert,
            TlsFile::Key => &files.key,
            TlsFile::CaFile => &files.ca_file,
            TlsFile::CaDir => &files.ca_dir,
        };
        path.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }
}

fn build(files: &Files, settings: &Settings) -> Result<Arc<ServerConfig>, String> {
    let cert_path = files
        .cert
        .as_deref()
        .ok_or("TLS: --tls-cert-file is required with --tls-port")?;
    let key_path = files
        .key
        .as_deref()
        .ok_or("TLS: --tls-key-file is required with --tls-port")?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .and_then(|it| it.collect())
        .map_err(|e| {
            format!(
                "TLS: cannot read certificates from {}: {e}",
                cert_path.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!("TLS: no certificate in {}", cert_path.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| {
        format!(
            "TLS: cannot read the private key from {}: {e}",
            key_path.display()
        )
    })?;

    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Some(list) = &settings.ciphersuites {
        let wanted: Vec<String> = list
            .split(':')
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect();
        // TLS 1.3 suites by their OpenSSL names (TLS_AES_128_GCM_SHA256);
        // rustls calls them TLS13_…. TLS 1.2 suites are kept.
        provider.cipher_suites.retain(|s| {
            let name = s.suite().as_str().unwrap_or_default();
            match name.strip_prefix("TLS13_") {
                Some(rest) => wanted.iter().any(|w| w.strip_prefix("TLS_") == Some(rest)),
                None => true,
            }
        });
    }
    let versions = protocol_versions(settings.protocols.as_deref())?;
    // The provider is named, never the process default: the tree has two
    // (aws-lc-rs and ring, through the AWS SDK), and rustls refuses to
    // guess between them.
    let provider = Arc::new(provider);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS: {e}"))?;

    let builder = match settings.auth_clients {
        TlsAuthClients::No => builder.with_no_client_auth(),
        mode => {
            let roots = ca_roots(files)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if mode == TlsAuthClients::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier.build().map_err(|e| format!("TLS: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS: the certificate and key do not make a server identity: {e}"))?;
    config.alpn_protocols = Vec::new();
    Ok(Arc::new(config))
}

/// `--tls-protocols "TLSv1.2 TLSv1.3"`: rustls has no older versions.
fn protocol_versions(
    list: Option<&str>,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let Some(list) = list.filter(|l| !l.trim().is_empty()) else {
        return Ok(rustls::ALL_VERSIONS.to_vec());
    };
    let mut out = Vec::new();
    for name in list.split_whitespace() {
        match name.to_ascii_lowercase().as_str() {
            "tlsv1.2" => out.push(&rustls::version::TLS12),
            "tlsv1.3" => out.push(&rustls::version::TLS13),
            "tlsv1" | "tlsv1.1" => {
                return Err(format!(
                    "TLS: {name} is not supported (rustls speaks TLSv1.2 and TLSv1.3)"
                ))
            }
            _ => return Err(format!("TLS: invalid tls-protocols value {name:?}")),
        }
    }
    Ok(out)
}

/// The CAs client certificates must chain to: `--tls-ca-cert-file` and
/// every PEM file in `--tls-ca-cert-dir`.
fn ca_roots(files: &Files) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let mut add = |path: &Path| -> Result<(), String> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect())
            .map_err(|e| {
                format!(
                    "TLS: cannot read CA certificates from {}: {e}",
                    path.display()
                )
            })?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("TLS: bad CA certificate in {}: {e}", path.display()))?;
        }
        Ok(())
    };
    if let Some(file) = &files.ca_file {
        add(file)?;
    }
    if let Some(dir) = &files.ca_dir {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("TLS: cannot read {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() {
                // A CA directory also holds hash links and other files;
                // only those that parse as certificates count.
                let _ = add(&path);
            }
        }
    }
    if roots.is_empty() {
        return Err(
            "TLS: client certificates are required (--tls-auth-clients yes|optional) but no CA is configured (--tls-ca-cert-file or --tls-ca-cert-dir)"
                .to_string(),
        );
    }
    Ok(roots)
}

/// The common name (CN) of a certificate's subject, if it has one.
/// A small DER walk over the fields before the subject: the only part of
/// a certificate read here, and webpki has already verified it.
pub fn subject_cn(cert: &[u8]) -> Option<Vec<u8>> {
    let (_, cert, _) = tlv(cert)?; // Certificate
    let (_, mut tbs, _) = tlv(cert)?; // TBSCertificate
    let mut field = 0;
    loop {
        let (tag, content, rest) = tlv(tbs)?;
        tbs = rest;
        if tag == 0xa0 {
            continue; // [0] version
        }
        // serial, signature algorithm, issuer, validity, subject
        if field == 4 {
            return cn_in_name(content);
        }
        field += 1;
    }
}

fn cn_in_name(mut name: &[u8]) -> Option<Vec<u8>> {
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    let mut found = None;
    while !name.is_empty() {
        let (_, set, rest) = tlv(name)?; // RelativeDistinguishedName
        name = rest;
        let mut set = set;
        while !set.is_empty() {
            let (_, atv, rest) = tlv(set)?; // AttributeTypeAndValue
            set = rest;
            let (tag, oid, value) = tlv(atv)?;
            if tag == 0x06 && oid == CN {
                let (_, value, _) = tlv(value)?;
                found = Some(value.to_vec());
            }
        }
    }
    found
}

/// One DER tag-length-value: (tag, content, what follows).
fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *d.first()?;
    let first = *d.get(1)? as usize;
    let (len, start) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *d.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = start.checked_add(len)?;
    Some((tag, d.get(start..end)?, d.get(end..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_subject_cn() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Org");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "svc-a");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        assert_eq!(subject_cn(cert.der()).as_deref(), Some(&b"svc-a"[..]));
        assert_eq!(subject_cn(b"\x30\x03\x02\x01"), None);
        assert_eq!(subject_cn(b""), None);
    }

    #[test]
    fn protocol_names() {
        assert_eq!(
            protocol_versions(Some("TLSv1.2 TLSv1.3")).map(|v| v.len()),
            Ok(2)
        );
        assert_eq!(protocol_versions(Some("TLSv1.3")).map(|v| v.len()), Ok(1));
        assert!(protocol_versions(Some("TLSv1.1")).is_err());
        assert!(protocol_versions(Some("SSLv3")).is_err());
    }
}
