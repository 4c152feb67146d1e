//! Opaque NextTokens. A token names the operation it belongs to and the sort key of the last item
//! served; the next page starts strictly after that key, so pages never repeat or skip an item even if
//! the state changes in between. A checksum makes a tampered or foreign token an InvalidNextToken.

use std::hash::{Hash, Hasher};

use crate::api::ApiError;

fn checksum(operation: &str, key: &str) -> u64 {
    // FNV-1a: stable across runs and platforms, unlike the std hasher's random keys.
    let mut hasher = Fnv(0xcbf2_9ce4_8422_2325);
    operation.hash(&mut hasher);
    key.hash(&mut hasher);
    hasher.finish()
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The token that continues `operation` after `last_key`.
pub fn encode(operation: &str, last_key: &str) -> String {
    let mut token = format!("{:016x}", checksum(operation, last_key));
    for byte in last_key.bytes() {
        token.push_str(&format!("{byte:02x}"));
    }
    token
}

/// The last key a token continues after; any token not issued for `operation` is InvalidNextToken.
pub fn decode(operation: &str, token: &str) -> Result<String, ApiError> {
    let invalid = ApiError::invalid_next_token;
    if token.len() < 16 || !token.len().is_multiple_of(2) || !token.is_ascii() {
        return Err(invalid());
    }
    let (sum, key_hex) = token.split_at(16);
    let bytes = (0..key_hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&key_hex[at..at + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| invalid())?;
    let key = String::from_utf8(bytes).map_err(|_| invalid())?;
    let expected = u64::from_str_radix(sum, 16).map_err(|_| invalid())?;
    if expected != checksum(operation, &key) {
        return Err(invalid());
    }
    Ok(key)
}

/// Takes one page from items already sorted by key and starting after the token's key: at most
/// `size` items, and the token for the next page if there is more.
pub fn take_page<T>(
    operation: &str,
    items: impl Iterator<Item = (String, T)>,
    size: usize,
) -> (Vec<T>, Option<String>) {
    let mut page = Vec::with_capacity(size.min(128));
    let mut last_key = None;
    let mut items = items.peekable();
    while page.len() < size {
        let Some((key, item)) = items.next() else {
            break;
        };
        page.push(item);
        last_key = Some(key);
    }
    let next = match (items.peek(), last_key) {
        (Some(_), Some(key)) => Some(encode(operation, &key)),
        _ => None,
    };
    (page, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_operation() {
        let token = encode("DescribePatchGroups", "web servers");
        assert_eq!(
            decode("DescribePatchGroups", &token).unwrap(),
            "web servers"
        );
        assert_eq!(
            decode("DescribeInstancePatches", &token).unwrap_err().code,
            "InvalidNextToken"
        );
        let mut tampered = token.clone();
        tampered.replace_range(20..22, "41");
        assert!(decode("DescribePatchGroups", &tampered).is_err());
        assert!(decode("DescribePatchGroups", "garbage").is_err());
        assert!(decode("DescribePatchGroups", "").is_err());
    }

    #[test]
    fn pages_cover_everything_once() {
        let keys: Vec<String> = (0..25).map(|n| format!("k{n:03}")).collect();
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let items = keys
                .iter()
                .filter(|key| after.as_ref().is_none_or(|after| *key > after))
                .map(|key| (key.clone(), key.clone()));
            let (page, next) = take_page("Op", items, 10);
            seen.extend(page);
            match next {
                Some(token) => after = Some(decode("Op", &token).unwrap()),
                None => break,
            }
        }
        assert_eq!(seen, keys);
    }
}
