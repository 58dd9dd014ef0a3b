//! Deterministic synthetic vectors for the benchmarks: unit rows clustered around random
//! centres, as embeddings of a catalogue tend to be, so an HNSW has real work to do.

/// xorshift64*: deterministic data without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [-1, 1).
    pub fn next_f32(&mut self) -> f32 {
        let bits = self.next_u64() >> 40;
        bits as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() >> 11) % n as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64) < p * (1u64 << 53) as f64
    }

    /// A unit vector: `center` plus uniform noise of up to `spread` per component.
    pub fn unit_near(&mut self, center: &[f32], spread: f32) -> Vec<f32> {
        let v: Vec<f32> = center
            .iter()
            .map(|c| c + spread * self.next_f32())
            .collect();
        vecgate_core::kernels::normalize(&v).expect("finite")
    }

    /// `count` random centres of `dims` components, uniform in [-1, 1).
    pub fn centers(&mut self, count: usize, dims: usize) -> Vec<Vec<f32>> {
        (0..count)
            .map(|_| (0..dims).map(|_| self.next_f32()).collect())
            .collect()
    }
}
