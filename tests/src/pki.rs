//! Test certificates, made in the test run (nothing committed, nothing fetched).

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A CA, and a server certificate and key it signed for `localhost` only (not 127.0.0.1).
pub struct Pki {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

/// A fresh CA named after `name`, and its `localhost` server certificate, as PEM.
pub fn pki(name: &str) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("vecgate test CA {name}"));
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let mut server = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let server_key = KeyPair::generate().unwrap();
    let cert = server
        .signed_by(&server_key, &Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    Pki {
        ca: ca.pem(),
        cert: cert.pem(),
        key: server_key.serialize_pem(),
    }
}
