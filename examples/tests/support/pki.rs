//! Certificate authorities made by the test, and the certificates they sign,
//! written as PEM files: nothing is read from the machine's own store.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A certificate authority: its certificate in `certificate` (PEM).
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    name: String,
    dir: PathBuf,
    pub certificate: PathBuf,
}

/// A certificate and its private key, as PEM files.
pub struct Issued {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

/// Who a certificate is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// A broker: the names clients connect to.
    Server,
    /// A client showing its certificate to the broker.
    Client,
}

impl TestCa {
    /// A new CA called `name`, its files in `dir`.
    pub fn new(dir: &Path, name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let certificate = dir.join(format!("{name}.ca.pem"));
        std::fs::write(&certificate, params.self_signed(&key).unwrap().pem()).unwrap();
        TestCa {
            issuer: Issuer::new(params, key),
            name: name.to_string(),
            dir: dir.to_path_buf(),
            certificate,
        }
    }

    /// A certificate for `holder` named `names` (DNS names or IP
    /// addresses), signed by this CA.
    pub fn issue(&self, holder: Holder, names: &[&str]) -> Issued {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).unwrap();
        let common_name = names.first().cloned().unwrap_or_else(|| "client".into());
        params
            .distinguished_name
            .push(DnType::CommonName, common_name.clone());
        params.extended_key_usages = vec![match holder {
            Holder::Server => ExtendedKeyUsagePurpose::ServerAuth,
            Holder::Client => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        let stem = format!("{}.{common_name}", self.name);
        let issued = Issued {
            certificate: self.dir.join(format!("{stem}.pem")),
            key: self.dir.join(format!("{stem}.key")),
        };
        let signed = params.signed_by(&key, &self.issuer).unwrap();
        std::fs::write(&issued.certificate, signed.pem()).unwrap();
        std::fs::write(&issued.key, key.serialize_pem()).unwrap();
        issued
    }
}
