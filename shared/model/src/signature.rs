//! This module checks webhook signatures. `X-Signature` is the HMAC-SHA256 of the raw body
//! bytes.
//!
//! Ralio does not document the encoding, so hex (either case) and base64 (standard or
//! URL-safe, padded or not) are both accepted, with an optional `sha256=` prefix. Several
//! secrets may be active at once so that a secret can be rotated without dropping deliveries.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;

/// The header Ralio puts the signature in.
pub const SIGNATURE_HEADER: &str = "x-signature";

type HmacSha256 = Hmac<Sha256>;
const MAC_LEN: usize = 32;

/// One webhook signing secret, which is never printed.
// The newtype stays because a rotation compares secret lists (`adds_to`) and secrecy's box has
// no equality.
#[derive(Clone, Debug)]
pub struct WebhookSecret(SecretSlice<u8>);

impl WebhookSecret {
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Self(secret.as_ref().to_vec().into())
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length, so this cannot fail.
        HmacSha256::new_from_slice(self.0.expose_secret()).expect("HMAC accepts any key length")
    }

    /// Returns the lowercase hex signature of `body`, as a sender would compute it.
    pub fn sign_hex(&self, body: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    /// Returns the standard base64 signature of `body`.
    pub fn sign_base64(&self, body: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(body);
        STANDARD.encode(mac.finalize().into_bytes())
    }
}

impl PartialEq for WebhookSecret {
    fn eq(&self, other: &Self) -> bool {
        self.0.expose_secret() == other.0.expose_secret()
    }
}

impl Eq for WebhookSecret {}

/// Holds the secrets currently accepted, in order of preference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookSecrets(Vec<WebhookSecret>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no webhook secret given: expected one or more comma-separated secrets")]
pub struct NoSecrets;

impl WebhookSecrets {
    pub fn new(secrets: Vec<WebhookSecret>) -> Result<Self, NoSecrets> {
        if secrets.is_empty() {
            Err(NoSecrets)
        } else {
            Ok(Self(secrets))
        }
    }

    /// Parses `WEBHOOK_SECRETS`, which is comma-separated; surrounding blanks are ignored.
    pub fn from_csv(value: &str) -> Result<Self, NoSecrets> {
        Self::new(
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(WebhookSecret::new)
                .collect(),
        )
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Returns whether this list holds a secret that `before` did not. Such a change is a
    /// rotation, which, unlike a removal, cannot make a genuine delivery fail.
    pub fn adds_to(&self, before: &WebhookSecrets) -> bool {
        self.0.iter().any(|secret| !before.0.contains(secret))
    }

    /// Checks `header` against `body` with every active secret, in constant time per secret.
    /// `Ok` holds the position of the secret that matched, where 0 is the newest.
    pub fn verify(&self, body: &[u8], header: Option<&str>) -> Result<usize, SignatureError> {
        let header = header.map(str::trim).filter(|h| !h.is_empty());
        let header = header.ok_or(SignatureError::Missing)?;
        let expected = decode_signature(header).ok_or(SignatureError::Malformed)?;
        for (index, secret) in self.0.iter().enumerate() {
            let mut mac = secret.mac();
            mac.update(body);
            if mac.verify_slice(&expected).is_ok() {
                return Ok(index);
            }
        }
        Err(SignatureError::Mismatch)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Signature header is missing")]
    Missing,
    #[error("the X-Signature header is not a hex or base64 HMAC-SHA256")]
    Malformed,
    #[error("the X-Signature header does not match the body")]
    Mismatch,
}

fn decode_signature(header: &str) -> Option<Vec<u8>> {
    let value = match header.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("sha256=") => header[7..].trim(),
        _ => header,
    };
    if value.len() == MAC_LEN * 2 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(value).ok();
    }
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(value).ok())
        .filter(|bytes| bytes.len() == MAC_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_ralio_fixture_test_secret";
    const BODY: &[u8] = br#"{"id":"x"}"#;

    fn secrets() -> WebhookSecrets {
        WebhookSecrets::from_csv(SECRET).unwrap()
    }

    #[test]
    fn accepts_hex_in_either_case_and_with_prefix() {
        let hex = WebhookSecret::new(SECRET).sign_hex(BODY);
        assert_eq!(secrets().verify(BODY, Some(&hex)), Ok(0));
        assert_eq!(secrets().verify(BODY, Some(&hex.to_uppercase())), Ok(0));
        assert_eq!(
            secrets().verify(BODY, Some(&format!("sha256={hex}"))),
            Ok(0)
        );
        assert_eq!(
            secrets().verify(BODY, Some(&format!("SHA256={hex}"))),
            Ok(0)
        );
        assert_eq!(secrets().verify(BODY, Some(&format!("  {hex}  "))), Ok(0));
    }

    #[test]
    fn accepts_every_base64_flavour() {
        let standard = WebhookSecret::new(SECRET).sign_base64(BODY);
        let url_safe = standard.replace('+', "-").replace('/', "_");
        let unpadded = standard.trim_end_matches('=').to_owned();
        for header in [
            &standard,
            &url_safe,
            &unpadded,
            &format!("sha256={standard}"),
        ] {
            assert_eq!(secrets().verify(BODY, Some(header)), Ok(0), "{header}");
        }
    }

    #[test]
    fn rejects_wrong_inputs_with_the_right_reason() {
        let hex = WebhookSecret::new(SECRET).sign_hex(BODY);
        assert_eq!(secrets().verify(BODY, None), Err(SignatureError::Missing));
        assert_eq!(
            secrets().verify(BODY, Some("")),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            secrets().verify(BODY, Some("   ")),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            secrets().verify(BODY, Some("not a signature!")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            secrets().verify(BODY, Some(&hex[..63])),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            secrets().verify(BODY, Some(&hex[..32])),
            Err(SignatureError::Malformed),
            "a truncated MAC must never be accepted as a shorter prefix"
        );
        assert_eq!(
            secrets().verify(br#"{"id":"y"}"#, Some(&hex)),
            Err(SignatureError::Mismatch)
        );
        let other = WebhookSecret::new("another").sign_hex(BODY);
        assert_eq!(
            secrets().verify(BODY, Some(&other)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            secrets().verify(b"", Some(&hex)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_active_secret_verifies_during_rotation() {
        let rotating = WebhookSecrets::from_csv(" old-secret , new-secret ,").unwrap();
        assert_eq!(rotating.len(), 2);
        for (index, secret) in ["old-secret", "new-secret"].into_iter().enumerate() {
            let sig = WebhookSecret::new(secret).sign_hex(BODY);
            assert_eq!(rotating.verify(BODY, Some(&sig)), Ok(index), "{secret}");
        }
        let retired = WebhookSecret::new("retired").sign_hex(BODY);
        assert_eq!(
            rotating.verify(BODY, Some(&retired)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn empty_secret_list_is_refused() {
        assert_eq!(WebhookSecrets::from_csv(""), Err(NoSecrets));
        assert_eq!(WebhookSecrets::from_csv(" , ,"), Err(NoSecrets));
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let printed = format!("{:?}", secrets());
        assert!(!printed.contains(SECRET), "{printed}");
    }
}
