//! TLS to the MQTT broker: the CA to trust, the identity to show, the name
//! to check.
//!
//! Every file is read and checked when the settings are made
//! ([`TlsFiles::load`]), so a program refuses a missing, unreadable or
//! non-PEM file at start, naming it, instead of failing at every connection
//! attempt. The result, [`MqttTls`], is a complete rustls client
//! configuration:
//!
//! - **Trust**: the certificates in the CA file and nothing else (not the
//!   system's store): a broker's certificate must chain to one of them.
//! - **Name**: the broker's certificate must carry the host connected to (a
//!   DNS name or an IP address), or the name given instead
//!   ([`TlsFiles::server_name`]), for a broker reached by an address its
//!   certificate does not name.
//! - **Identity** (mutual TLS): a client certificate and its key, for a
//!   broker that asks for one; a key that does not belong to the
//!   certificate is refused here, not by the broker.
//! - **Cryptography**: rustls with the *ring* provider, named in the
//!   configuration itself: no process-wide default is installed or needed,
//!   and nothing else in the process can change it. TLS 1.3 and 1.2.
//!
//! Without TLS the broker's user name and password cross the network in
//! clear ([`super::MqttSettings::cleartext_warning`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Which of the TLS files a [`TlsSetupError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsFileRole {
    /// The CA certificate(s) to trust.
    Ca,
    /// The client certificate (mutual TLS).
    ClientCertificate,
    /// The client certificate's private key.
    ClientKey,
}

impl fmt::Display for TlsFileRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsFileRole::Ca => "CA certificate",
            TlsFileRole::ClientCertificate => "client certificate",
            TlsFileRole::ClientKey => "client key",
        })
    }
}

/// Why TLS to the broker cannot be set up. Found before any connection is
/// tried; each names the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsSetupError {
    /// The file cannot be read (missing, no permission, a directory).
    #[error("cannot read the {role} file {}: {source}", path.display())]
    Unreadable {
        /// Which file.
        role: TlsFileRole,
        /// Where it was looked for.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The file has a PEM block that does not parse.
    #[error("the {role} file {} is damaged PEM: {reason}", path.display())]
    BadPem {
        /// Which file.
        role: TlsFileRole,
        /// The file.
        path: PathBuf,
        /// What is wrong, in words.
        reason: String,
    },
    /// The file holds no PEM certificate.
    #[error(
        "the {role} file {} holds no PEM certificate (a block between \
         \"-----BEGIN CERTIFICATE-----\" and \"-----END CERTIFICATE-----\"){hint}",
        path.display()
    )]
    NoCertificate {
        /// Which file.
        role: TlsFileRole,
        /// The file.
        path: PathBuf,
        /// What it seems to hold instead, and how to convert it ("" when
        /// unknown).
        hint: &'static str,
    },
    /// A certificate in the CA file cannot serve as a trust anchor.
    #[error("the CA certificate file {} holds a certificate that cannot be trusted: {reason}", path.display())]
    BadCa {
        /// The CA file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The key file holds no private key that can be used.
    #[error(
        "the client key file {} holds no usable private key: an unencrypted PEM \
         key is needed (\"BEGIN PRIVATE KEY\", \"BEGIN RSA PRIVATE KEY\" or \
         \"BEGIN EC PRIVATE KEY\"){hint}",
        path.display()
    )]
    NoKey {
        /// The key file.
        path: PathBuf,
        /// What it seems to hold instead ("" when unknown).
        hint: &'static str,
    },
    /// The client certificate and key do not go together (the key is not
    /// the certificate's, or of a kind rustls cannot sign with).
    #[error(
        "the client certificate {} and the key {} cannot be used together: {reason}",
        certificate.display(),
        key.display()
    )]
    ClientIdentity {
        /// The certificate file.
        certificate: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// The TLS library refused its own settings (not expected: the ring
    /// provider supports every default).
    #[error("TLS cannot be set up: {reason}")]
    Library {
        /// What rustls said.
        reason: String,
    },
    /// The name to check in the broker's certificate is neither a DNS
    /// name nor an IP address.
    #[error(
        "{name:?} cannot be checked against the broker's certificate: it is neither \
         a DNS name nor an IP address"
    )]
    ServerName {
        /// The name.
        name: String,
    },
}

/// Where the TLS material is: the files a program was given.
///
/// # Examples
///
/// ```
/// use locker_examples::uplink::{TlsFileRole, TlsFiles, TlsSetupError};
///
/// let files = TlsFiles::new("/nonexistent/ca.pem");
/// let Err(TlsSetupError::Unreadable { role, path, .. }) = files.load("broker.example") else {
///     panic!("a missing CA file is refused");
/// };
/// assert_eq!((role, path.to_str()), (TlsFileRole::Ca, Some("/nonexistent/ca.pem")));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA certificate(s) that signed the broker's certificate, PEM.
    /// Only these are trusted.
    pub ca: PathBuf,
    /// A client certificate (PEM, the chain up to the CA, leaf first) and
    /// its private key (PEM, unencrypted), for a broker that asks for one.
    pub client_identity: Option<(PathBuf, PathBuf)>,
    /// The name the broker's certificate must carry, when it is not the
    /// host connected to (`None`: the host).
    pub server_name: Option<String>,
}

impl TlsFiles {
    /// Trust the CA certificate(s) in `ca`; no client certificate; the
    /// broker's certificate must name the host connected to.
    pub fn new(ca: impl Into<PathBuf>) -> Self {
        TlsFiles {
            ca: ca.into(),
            client_identity: None,
            server_name: None,
        }
    }

    /// Reads and checks every file, and the name the broker's certificate
    /// must carry ([`TlsFiles::server_name`], or `host`), and builds the
    /// client configuration.
    ///
    /// # Errors
    /// A [`TlsSetupError`] naming the file (or the name) and what is wrong.
    pub fn load(&self, host: &str) -> Result<MqttTls, TlsSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(read_roots(&self.ca)?);
        let name = self.server_name.as_deref().unwrap_or(host);
        let expected =
            ServerName::try_from(name.to_string()).map_err(|_| TlsSetupError::ServerName {
                name: name.to_string(),
            })?;
        let library = |e: &dyn fmt::Display| TlsSetupError::Library {
            reason: e.to_string(),
        };
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| library(&e))?;
        let builder = match &self.server_name {
            None => builder.with_root_certificates(roots),
            Some(_) => {
                let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                    .build()
                    .map_err(|e| library(&e))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(NamedServer {
                        name: expected,
                        verifier,
                    }))
            }
        };
        let config = match &self.client_identity {
            None => builder.with_no_client_auth(),
            Some((certificate, key)) => {
                let chain = read_certificates(TlsFileRole::ClientCertificate, certificate)?;
                let private = read_key(key)?;
                builder.with_client_auth_cert(chain, private).map_err(|e| {
                    TlsSetupError::ClientIdentity {
                        certificate: certificate.clone(),
                        key: key.clone(),
                        reason: e.to_string(),
                    }
                })?
            }
        };
        Ok(MqttTls {
            files: self.clone(),
            config: Arc::new(config),
        })
    }
}

/// TLS to the broker, ready to use: every file read and checked, the
/// rustls client configuration built ([`TlsFiles::load`]).
#[derive(Clone)]
pub struct MqttTls {
    files: TlsFiles,
    config: Arc<ClientConfig>,
}

impl MqttTls {
    /// The files it was loaded from.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The rustls client configuration.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }
}

impl fmt::Debug for MqttTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttTls")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

fn read(role: TlsFileRole, path: &Path) -> Result<Vec<u8>, TlsSetupError> {
    std::fs::read(path).map_err(|source| TlsSetupError::Unreadable {
        role,
        path: path.to_path_buf(),
        source,
    })
}

fn bad_pem(role: TlsFileRole, path: &Path, error: pem::Error) -> TlsSetupError {
    let reason = match error {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "a block is not closed (its line {:?} is missing)",
            String::from_utf8_lossy(&end_marker)
        ),
        pem::Error::IllegalSectionStart { line } => format!(
            "a block opens with a malformed line {:?}",
            String::from_utf8_lossy(&line)
        ),
        pem::Error::Base64Decode(e) => format!("a block's body is not base64 ({e})"),
        other => other.to_string(),
    };
    TlsSetupError::BadPem {
        role,
        path: path.to_path_buf(),
        reason,
    }
}

/// What a file that is not what was asked for seems to hold, as advice.
fn guess(role: TlsFileRole, bytes: &[u8]) -> &'static str {
    let text = String::from_utf8_lossy(bytes);
    // DER (binary ASN.1) opens with a SEQUENCE tag.
    if bytes.first() == Some(&0x30) {
        match role {
            TlsFileRole::ClientKey => {
                "; it looks like DER: convert it with `openssl pkey -inform der -in FILE -out FILE.pem`"
            }
            _ => {
                "; it looks like DER: convert it with `openssl x509 -inform der -in FILE -out FILE.pem`"
            }
        }
    } else if text.contains("ENCRYPTED") {
        "; it holds an encrypted key: decrypt it with `openssl pkey -in FILE -out FILE.pem`"
    } else if text.contains("PRIVATE KEY-----") {
        "; it holds a private key: give the certificate file here"
    } else if text.contains("CERTIFICATE-----") {
        "; it holds a certificate, not a key: give the key file here"
    } else if bytes.is_empty() {
        "; the file is empty"
    } else {
        ""
    }
}

fn read_certificates(
    role: TlsFileRole,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let bytes = read(role, path)?;
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem(role, path, e))?;
    if certificates.is_empty() {
        return Err(TlsSetupError::NoCertificate {
            role,
            path: path.to_path_buf(),
            hint: guess(role, &bytes),
        });
    }
    Ok(certificates)
}

fn read_roots(path: &Path) -> Result<RootCertStore, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    for certificate in read_certificates(TlsFileRole::Ca, path)? {
        roots.add(certificate).map_err(|e| TlsSetupError::BadCa {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    let bytes = read(TlsFileRole::ClientKey, path)?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => Err(TlsSetupError::NoKey {
            path: path.to_path_buf(),
            hint: guess(TlsFileRole::ClientKey, &bytes),
        }),
        Err(e) => Err(bad_pem(TlsFileRole::ClientKey, path, e)),
    }
}

/// The usual verification (chain to the trusted CAs, validity, signatures),
/// with the broker's certificate checked against a fixed name instead of
/// the host connected to. Only the name changes; every other check is the
/// webpki verifier's own.
#[derive(Debug)]
struct NamedServer {
    name: ServerName<'static>,
    verifier: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for NamedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _connected_to: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.verifier.supported_verify_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.verifier.root_hint_subjects()
    }
}
