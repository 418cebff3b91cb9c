//! Comparing JSON that went through an encode/decode round trip.

use serde_json::{Map, Value};

/// Equal JSON, except that floats may differ in their last bits: serde_json's default float
/// parser is not correctly rounded, so a float printed exactly (shortest round-trip form) can
/// read back an ulp or so away. Integers, strings and structure must match exactly.
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() && y.is_f64() => {
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => nearly_equal(x, y),
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => same_map(x, y),
        _ => a == b,
    }
}

/// [`same_json`] for two objects.
pub fn same_map(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|(key, x)| b.get(key).is_some_and(|y| same_json(x, y)))
}

/// Within 2 ulps (same sign), or exactly equal (which covers 0.0 == -0.0).
fn nearly_equal(x: f64, y: f64) -> bool {
    const MAX_ULPS: u64 = 2;
    x == y
        || (x.is_sign_negative() == y.is_sign_negative()
            && x.to_bits().abs_diff(y.to_bits()) <= MAX_ULPS)
}
