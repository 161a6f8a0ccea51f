//! Detached JWS signatures (EdDSA) over the canonical JSON of a document: consent artefacts and prescriptions
//! are signed so that anyone holding the published key can check them without asking this service.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, Verifier};
use serde_json::Value;

use crate::auth::SigningKeys;

/// JSON with object keys sorted by code point and no insignificant whitespace (RFC 8785 for the values we emit:
/// strings, integers and plain decimals), so signer and verifier hash the same bytes whatever the key order on the wire.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Signs documents with one Ed25519 key and checks signatures made with it.
#[derive(Clone)]
pub struct DocumentSigner {
    keys: SigningKeys,
}

impl DocumentSigner {
    pub fn new(keys: SigningKeys) -> Self {
        Self { keys }
    }

    pub fn kid(&self) -> &str {
        &self.keys.kid
    }

    /// The published key set: `{"keys": [jwk]}`.
    pub fn jwks(&self) -> Value {
        serde_json::json!({ "keys": [self.keys.public_jwk()] })
    }

    /// A detached compact JWS (`header..signature`, RFC 7515 appendix F) over the canonical JSON of `document`.
    pub fn sign(&self, document: &Value) -> String {
        let header = serde_json::json!({ "alg": "EdDSA", "kid": self.keys.kid, "typ": "JOSE" });
        let header_b64 = URL_SAFE_NO_PAD.encode(canonical_json(&header));
        let input = signing_input(&header_b64, document);
        let signature = self.keys.signing.sign(input.as_bytes());
        format!("{header_b64}..{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    /// Whether `jws` is this key's valid detached signature over `document`.
    pub fn verify(&self, document: &Value, jws: &str) -> bool {
        let Some((header_b64, signature_b64)) = jws.split_once("..") else { return false };
        let header: Option<Value> = URL_SAFE_NO_PAD.decode(header_b64).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let Some(header) = header else { return false };
        if header["alg"] != "EdDSA" || header["kid"] != self.keys.kid.as_str() {
            return false;
        }
        let signature = URL_SAFE_NO_PAD.decode(signature_b64).ok().and_then(|bytes| Signature::from_slice(&bytes).ok());
        let Some(signature) = signature else { return false };
        let input = signing_input(header_b64, document);
        self.keys.signing.verifying_key().verify(input.as_bytes(), &signature).is_ok()
    }
}

fn signing_input(header_b64: &str, document: &Value) -> String {
    format!("{header_b64}.{}", URL_SAFE_NO_PAD.encode(canonical_json(document)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn signer(seed: u8) -> DocumentSigner {
        DocumentSigner::new(SigningKeys::from_seed(&[seed; 32]))
    }

    #[test]
    fn canonical_form_sorts_keys_and_drops_whitespace() {
        let doc: Value = serde_json::from_str(r#"{ "b": [1, {"z": "é\n", "a": null}], "a": true, "ab": 1.5 }"#).unwrap();
        assert_eq!(canonical_json(&doc), r#"{"a":true,"ab":1.5,"b":[1,{"a":null,"z":"é\n"}]}"#);
    }

    #[test]
    fn signature_survives_key_order_and_fails_on_any_change() {
        let s = signer(7);
        let doc = json!({ "consentId": "c-1", "hiTypes": ["OPConsultation"], "permission": { "accessMode": "VIEW" } });
        let jws = s.sign(&doc);
        assert!(jws.contains(".."), "detached: no payload between the dots");
        let reordered: Value =
            serde_json::from_str(r#"{"permission":{"accessMode":"VIEW"},"hiTypes":["OPConsultation"],"consentId":"c-1"}"#).unwrap();
        assert!(s.verify(&reordered, &jws));
        let tampered = json!({ "consentId": "c-1", "hiTypes": ["OPConsultation", "Prescription"], "permission": { "accessMode": "VIEW" } });
        assert!(!s.verify(&tampered, &jws));
        assert!(!signer(8).verify(&doc, &jws), "another key does not verify");
        assert!(!s.verify(&doc, "garbage"));
        assert!(!s.verify(&doc, &jws.replace("..", ".e30.")), "an attached payload is not accepted");
    }
}
