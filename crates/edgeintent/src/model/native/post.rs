//! ONNX Runtime's post transforms of a row of scores (`ai.onnx.ml` tree
//! ensembles, linear models, SVMs), with its numerics.

use serde::{Deserialize, Serialize};

/// The transform applied to the aggregated scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum PostTransform {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
    Probit,
}

impl PostTransform {
    /// The transform an ONNX `post_transform` attribute names (`NONE`, ...).
    pub(crate) fn from_name(name: &str) -> Option<PostTransform> {
        Some(match name {
            "NONE" => PostTransform::None,
            "LOGISTIC" => PostTransform::Logistic,
            "SOFTMAX" => PostTransform::Softmax,
            "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
            "PROBIT" => PostTransform::Probit,
            _ => return None,
        })
    }
}

/// ONNX Runtime's logistic: symmetric form, stable for large |x|.
pub(crate) fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 {
        1.0 - v
    } else {
        v
    }
}

/// ONNX Runtime's post transform of a row of scores, in place.
pub(crate) fn post_transform(post: PostTransform, s: &mut [f32]) {
    match post {
        PostTransform::None => {}
        PostTransform::Logistic => s.iter_mut().for_each(|v| *v = logistic(*v)),
        PostTransform::Probit => s.iter_mut().for_each(|v| *v = probit(*v)),
        PostTransform::Softmax => {
            let max = s.iter().copied().fold(f32::MIN, f32::max);
            let mut sum = 0.0;
            for v in s.iter_mut() {
                *v = (*v - max).exp();
                sum += *v;
            }
            s.iter_mut().for_each(|v| *v /= sum);
        }
        PostTransform::SoftmaxZero => {
            // Exact zeros stay (almost) zero: they mean "no vote", not "score 0".
            let max = s.iter().copied().fold(f32::MIN, f32::max);
            let exp_neg_max = (-max).exp();
            let mut sum = 0.0;
            for v in s.iter_mut() {
                if v.abs() > 1e-7 {
                    *v = (*v - max).exp();
                    sum += *v;
                } else {
                    *v *= exp_neg_max;
                }
            }
            s.iter_mut().for_each(|v| *v /= sum);
        }
    }
}

/// `sqrt(2) * erfinv(2p - 1)`: the probit of a probability.
pub(crate) fn probit(p: f32) -> f32 {
    std::f32::consts::SQRT_2 * erf_inv(2.0 * p - 1.0)
}

/// Inverse error function (Giles' single-precision approximation).
fn erf_inv(x: f32) -> f32 {
    let x = x.clamp(-1.0, 1.0);
    let w = -((1.0 - x) * (1.0 + x)).ln();
    let p = if w < 5.0 {
        let w = w - 2.5;
        let mut p = 2.810_226_4e-8_f32;
        for c in [
            3.432_739_4e-7,
            -3.523_387_7e-6,
            -4.391_506_5e-6,
            0.000_218_580_87,
            -0.001_253_725,
            -0.004_177_681_6,
            0.246_640_73,
            1.501_409_4,
        ] {
            p = c + p * w;
        }
        p
    } else {
        let w = w.sqrt() - 3.0;
        let mut p = -0.000_200_214_26_f32;
        for c in [
            0.000_100_950_56,
            0.001_349_343_2,
            -0.003_673_428_4,
            0.005_739_507_7,
            -0.007_622_461,
            0.009_438_870_5,
            1.001_674,
            2.832_976_8,
        ] {
            p = c + p * w;
        }
        p
    };
    p * x
}
