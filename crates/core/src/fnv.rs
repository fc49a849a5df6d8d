//! FNV-1a digests of output bits, for the examples that show a change of a kernel left every
//! output bit as it was (`fit_bits`, `nlls_speed`, `syn_bits`, `extract_bench`): run them before
//! and after and compare the digests.

/// A 64-bit FNV-1a hasher; floats go in by their bit patterns (so NaN payloads and -0 count).
#[derive(Clone, Debug)]
pub struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Self {
        Self::new()
    }
}

impl Fnv {
    /// The FNV-1a offset basis.
    pub fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    /// Hashes bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 = (self.0 ^ x as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    /// Hashes the values' bits (little-endian), then the length.
    pub fn f32s(&mut self, v: &[f32]) {
        for x in v {
            self.bytes(&x.to_bits().to_le_bytes());
        }
        self.bytes(&(v.len() as u64).to_le_bytes());
    }
    /// Hashes the values' bits (little-endian), then the length.
    pub fn f64s(&mut self, v: &[f64]) {
        for x in v {
            self.bytes(&x.to_bits().to_le_bytes());
        }
        self.bytes(&(v.len() as u64).to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::Fnv;

    #[test]
    fn known_digests() {
        // FNV-1a 64 of "" and "a" (the published test vectors)
        assert_eq!(Fnv::new().0, 0xcbf2_9ce4_8422_2325);
        let mut h = Fnv::new();
        h.bytes(b"a");
        assert_eq!(h.0, 0xaf63_dc4c_8601_ec8c);
    }
}
