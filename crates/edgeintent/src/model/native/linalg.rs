//! Dense arithmetic the kernels share.

/// `out = x · W + b`, `W` as `[n_in][n_out]`. Outputs are computed in
/// blocks held in registers across the whole input (not stored and reloaded
/// once per input); each sum still adds `b`, then the inputs in order.
#[inline]
pub(super) fn affine(x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    const BLOCK: usize = 16;
    let n_out = out.len();
    let mut j = 0;
    while j + BLOCK <= n_out {
        let mut acc = [0.0f32; BLOCK];
        acc.copy_from_slice(&b[j..j + BLOCK]);
        for (xi, row) in x.iter().zip(w.chunks_exact(n_out)) {
            for (a, wij) in acc.iter_mut().zip(&row[j..j + BLOCK]) {
                *a += xi * wij;
            }
        }
        out[j..j + BLOCK].copy_from_slice(&acc);
        j += BLOCK;
    }
    if j < n_out {
        let tail = &mut out[j..];
        tail.copy_from_slice(&b[j..]);
        for (xi, row) in x.iter().zip(w.chunks_exact(n_out)) {
            for (o, wij) in tail.iter_mut().zip(&row[j..]) {
                *o += xi * wij;
            }
        }
    }
}

/// Softmax over a row, in place.
pub(super) fn softmax(v: &mut [f32]) {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for x in v.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    v.iter_mut().for_each(|x| *x /= sum);
}
