//! TLS for a server: the rustls config (ALPN h2 and http/1.1), built from PEM with the
//! aws-lc-rs provider passed explicitly, and the certificates handshakes get: a default
//! one that can be swapped while the server runs, and one per host name (SNI). New
//! handshakes see every change; open connections keep the certificate they got.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// PEM text of a key and its certificate chain, as given (files already read).
pub struct TlsMaterial<'a> {
  pub key: &'a [u8],
  pub cert: &'a [u8],
  /// Decrypts an `ENCRYPTED PRIVATE KEY` (PKCS#8).
  pub passphrase: Option<&'a str>,
  /// CA certificates: clients must present a certificate signed by one of them.
  pub ca: Option<&'a [u8]>,
}

fn provider() -> Arc<CryptoProvider> {
  Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The key and chain, checked to belong together.
pub fn certified_key(m: &TlsMaterial<'_>) -> Result<Arc<CertifiedKey>, String> {
  let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(m.cert)
    .collect::<Result<_, _>>()
    .map_err(|e| format!("cert: not a PEM certificate chain ({e})"))?;
  if chain.is_empty() {
    return Err("cert: no CERTIFICATE block found".into());
  }
  let key = private_key(m.key, m.passphrase)?;
  let provider = provider();
  let signing = provider.key_provider.load_private_key(key).map_err(|e| format!("key: unusable private key ({e})"))?;
  let certified = CertifiedKey::new(chain, signing);
  certified.keys_match().map_err(|e| format!("key and cert do not belong together ({e})"))?;
  Ok(Arc::new(certified))
}

fn private_key(pem: &[u8], passphrase: Option<&str>) -> Result<PrivateKeyDer<'static>, String> {
  let text = std::str::from_utf8(pem).map_err(|_| "key: not PEM text".to_string())?;
  if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
    let passphrase = passphrase.ok_or("key: the key is encrypted; give its passphrase")?;
    let (_, doc) = pkcs8::SecretDocument::from_pem(text).map_err(|e| format!("key: not a PEM key ({e})"))?;
    let encrypted = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes()).map_err(|e| format!("key: not an encrypted PKCS#8 key ({e})"))?;
    let plain = encrypted.decrypt(passphrase).map_err(|_| "key: wrong passphrase (or an unsupported encryption)".to_string())?;
    return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(plain.as_bytes().to_vec())));
  }
  PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("key: no PEM private key found ({e})"))
}

/// Hears a host name no certificate was registered for.
pub type MissingReport = Box<dyn Fn(&str) + Send + Sync>;

/// The certificate each new handshake gets: the one registered for the name the client
/// asked for (SNI), else the default.
pub struct CertResolver {
  /// Set when the server listens; a handshake before that gets none.
  default: RwLock<Option<Arc<CertifiedKey>>>,
  /// Lower-case names; `*.example.com` covers one label under example.com.
  hosts: RwLock<HashMap<String, Arc<CertifiedKey>>>,
  /// Told of names no certificate was registered for (HyperExpress's `missing`).
  missing: MissingReport,
  report_missing: AtomicBool,
}

impl std::fmt::Debug for CertResolver {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.debug_struct("CertResolver").field("hosts", &self.hosts.read().keys().collect::<Vec<_>>()).finish_non_exhaustive()
  }
}

impl CertResolver {
  /// Host certificates can be added from the start; `missing` hears SNI names with no
  /// certificate of their own, while reporting is on.
  pub fn new(missing: MissingReport) -> Self {
    Self { default: RwLock::new(None), hosts: RwLock::default(), missing, report_missing: AtomicBool::new(false) }
  }

  /// Sets (or replaces) the default certificate.
  pub fn swap(&self, key: Arc<CertifiedKey>) {
    *self.default.write() = Some(key);
  }

  /// The certificate for `name` (replacing any it had).
  pub fn add_host(&self, name: &str, key: Arc<CertifiedKey>) {
    self.hosts.write().insert(host_key(name), key);
  }

  pub fn remove_host(&self, name: &str) {
    self.hosts.write().remove(&host_key(name));
  }

  pub fn report_missing(&self, on: bool) {
    self.report_missing.store(on, Ordering::Relaxed);
  }

  fn for_host(&self, name: &str) -> Option<Arc<CertifiedKey>> {
    let hosts = self.hosts.read();
    if hosts.is_empty() {
      return None;
    }
    let name = host_key(name);
    if let Some(key) = hosts.get(&name) {
      return Some(key.clone());
    }
    let (_, parent) = name.split_once('.')?;
    hosts.get(&format!("*.{parent}")).cloned()
  }
}

/// A host name as SNI matches it: lower case, without a trailing dot (rustls drops the
/// client's).
fn host_key(name: &str) -> String {
  name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

impl ResolvesServerCert for CertResolver {
  fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
    if let Some(name) = hello.server_name() {
      if let Some(key) = self.for_host(name) {
        return Some(key);
      }
      if self.report_missing.load(Ordering::Relaxed) {
        (self.missing)(name);
      }
    }
    self.default.read().clone()
  }
}

/// A server config offering h2 then http/1.1 with the certificates of `resolver`, and
/// the default certificate for it (the caller sets it once the server listens).
pub fn server_config(m: &TlsMaterial<'_>, resolver: Arc<CertResolver>) -> Result<(Arc<ServerConfig>, Arc<CertifiedKey>), String> {
  let certified = certified_key(m)?;
  let provider = provider();
  let builder = ServerConfig::builder_with_provider(provider.clone())
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?;
  let builder = match m.ca {
    None => builder.with_no_client_auth(),
    Some(ca) => {
      let mut roots = RootCertStore::empty();
      for cert in CertificateDer::pem_slice_iter(ca) {
        let cert = cert.map_err(|e| format!("ca: not a PEM certificate ({e})"))?;
        roots.add(cert).map_err(|e| format!("ca: unusable certificate ({e})"))?;
      }
      if roots.is_empty() {
        return Err("ca: no CERTIFICATE block found".into());
      }
      let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| format!("ca: {e}"))?;
      builder.with_client_cert_verifier(verifier)
    }
  };
  let mut config = builder.with_cert_resolver(resolver);
  config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
  Ok((Arc::new(config), certified))
}
