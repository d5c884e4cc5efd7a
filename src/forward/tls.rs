//! TLS for `mqtts://`: the configured CA file is the only trust root.
//!
//! Built and checked up front, so a missing or malformed file stops the daemon
//! at start with the file's name instead of failing every reconnect later.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use rumqttc::tokio_rustls::rustls;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A rustls client config trusting only `ca_file`, presenting the client
/// certificate chain in `cert_file` with `key_file` when both are given.
pub fn client_config(
    ca_file: Option<&Path>,
    cert_file: Option<&Path>,
    key_file: Option<&Path>,
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let ca_file = ca_file.ok_or_else(|| anyhow!("mqtt.ca_file is required for mqtts://"))?;
    let client_auth = match (cert_file, key_file) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some((cert, key)),
        (Some(_), None) => bail!("mqtt.cert_file is set but mqtt.key_file is not"),
        (None, Some(_)) => bail!("mqtt.key_file is set but mqtt.cert_file is not"),
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(ca_file)? {
        roots
            .add(cert)
            .with_context(|| format!("CA file {}: unusable certificate", ca_file.display()))?;
    }
    // The provider named outright: rustls' implicit default panics when
    // features of other crates enable more than one.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS: no usable protocol versions")?
        .with_root_certificates(roots);
    let config = match client_auth {
        None => builder.with_no_client_auth(),
        Some((cert_file, key_file)) => {
            let chain = certificates(cert_file)?;
            let key = private_key(key_file)?;
            builder.with_client_auth_cert(chain, key).with_context(|| {
                format!(
                    "client key {} does not fit certificate {}",
                    key_file.display(),
                    cert_file.display()
                )
            })?
        }
    };
    Ok(Arc::new(config))
}

/// All PEM certificates in a file; at least one.
fn certificates(file: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: bad PEM", file.display()))?;
    if certs.is_empty() {
        bail!("{}: no PEM certificate in it", file.display());
    }
    Ok(certs)
}

/// A plain-words reason for a failed TLS connection, for the operator: which
/// setting to look at. `None` when the error is not about certificates.
///
/// rustls' own errors are exact but terse (`UnknownIssuer`, an alert name);
/// this says whose certificate was refused and by whom.
pub fn explain(err: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    let mut next = Some(err);
    while let Some(e) = next {
        let tls = e.downcast_ref::<E>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<E>())
        });
        if let Some(tls) = tls {
            return Some(match tls {
                E::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
                    "the broker's certificate is not signed by the CA in mqtt.ca_file"
                }
                E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
                    "the broker's certificate has expired (or this box's clock is wrong)"
                }
                E::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
                    "the broker's certificate is not valid yet (or this box's clock is wrong)"
                }
                E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
                    "the broker's certificate is not for the host name in mqtt.url"
                }
                E::InvalidCertificate(_) => "the broker's certificate was refused",
                E::AlertReceived(A::CertificateExpired) => {
                    "the broker refused our client certificate (mqtt.cert_file): it has expired"
                }
                E::AlertReceived(
                    A::UnknownCA
                    | A::BadCertificate
                    | A::CertificateUnknown
                    | A::CertificateRequired
                    | A::UnsupportedCertificate
                    | A::CertificateRevoked
                    | A::AccessDenied,
                ) => {
                    "the broker refused our client certificate (mqtt.cert_file): \
                     not signed by a CA it trusts, expired, or missing"
                }
                _ => return None,
            });
        }
        next = e.source();
    }
    None
}

fn private_key(file: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    PrivateKeyDer::from_pem_slice(&pem)
        .with_context(|| format!("{}: no usable PEM private key in it", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_ca_file_is_named() {
        let err = client_config(Some(Path::new("/nonexistent/ca.pem")), None, None).unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent/ca.pem"),
            "{err:#}"
        );
        let err = client_config(None, None, None).unwrap_err();
        assert!(err.to_string().contains("ca_file"), "{err}");
    }

    #[test]
    fn a_file_without_certificates_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("empty-ca.pem");
        std::fs::write(&ca, "not a certificate\n").unwrap();
        let err = client_config(Some(&ca), None, None).unwrap_err();
        assert!(format!("{err:#}").contains("empty-ca.pem"), "{err:#}");
    }

    #[test]
    fn a_certificate_without_a_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "x").unwrap();
        let err = client_config(Some(&ca), Some(&ca), None).unwrap_err();
        assert!(err.to_string().contains("key_file"), "{err}");
        let err = client_config(Some(&ca), None, Some(&ca)).unwrap_err();
        assert!(err.to_string().contains("cert_file"), "{err}");
    }
}
