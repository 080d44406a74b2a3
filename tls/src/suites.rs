//! The crypto provider (aws-lc-rs) with the cipher suites a profile allows.

use rustls::crypto::{aws_lc_rs, CryptoProvider};

use crate::error::TlsError;

/// aws-lc-rs's default provider, its suites cut down to `names` (IANA
/// names as rustls spells them, e.g. `TLS13_AES_128_GCM_SHA256`); all of
/// its defaults when `names` is empty.
pub fn provider(names: &[String]) -> Result<CryptoProvider, TlsError> {
    let mut provider = aws_lc_rs::default_provider();
    if names.is_empty() {
        return Ok(provider);
    }
    let mut chosen = Vec::with_capacity(names.len());
    for name in names {
        let suite = provider
            .cipher_suites
            .iter()
            .find(|s| format!("{:?}", s.suite()) == *name)
            .ok_or_else(|| TlsError::setting(format!("unknown cipher suite {name:?}")))?;
        chosen.push(*suite);
    }
    provider.cipher_suites = chosen;
    Ok(provider)
}

/// Every suite name the provider knows, for `coregate check` and errors.
pub fn known() -> Vec<String> {
    aws_lc_rs::default_provider()
        .cipher_suites
        .iter()
        .map(|s| format!("{:?}", s.suite()))
        .collect()
}
