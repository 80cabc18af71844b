//! A certificate authority of a test's own, for HTTPS servers the daemon under test must
//! trust only through the CA file the test gives it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

/// A certificate authority of the test's own, and a server certificate it signed for `ip`.
pub fn authority(ip: &str) -> (String, Arc<rustls::ServerConfig>) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server =
        rcgen::CertificateParams::new(vec![ip.to_owned()]).unwrap().signed_by(&server_key, &ca, &ca_key).unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(server_key.serialize_der());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![server.der().clone()], key.into())
        .unwrap();
    (ca.pem(), Arc::new(config))
}
