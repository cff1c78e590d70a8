//! Geometry on the Earth: great-circle distance and the local tangent plane
//! the index works on.

use super::config::FenceDef;

/// Mean Earth radius (IUGG), metres.
pub(super) const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres (haversine).
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

/// Earth-centred coordinates on the sphere, metres. Straight-line (chord)
/// distance between two such points never exceeds the great-circle distance.
fn ecef(lat: f64, lon: f64) -> [f64; 3] {
    let (sp, cp) = lat.to_radians().sin_cos();
    let (sl, cl) = lon.to_radians().sin_cos();
    [
        EARTH_RADIUS_M * cp * cl,
        EARTH_RADIUS_M * cp * sl,
        EARTH_RADIUS_M * sp,
    ]
}

/// A tangent plane at an origin: orthographic projection of Earth-centred
/// coordinates onto it. The projection is linear and drops the vertical, so a
/// distance on the plane never exceeds the chord, which never exceeds the
/// great-circle distance: index distances are lower bounds, exact to a few
/// parts in a thousand within a few hundred kilometres of the origin.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plane {
    pub(super) origin: (f64, f64),
    east: [f64; 3],
    north: [f64; 3],
}

impl Plane {
    pub(super) fn at(lat: f64, lon: f64) -> Plane {
        let (p, l) = (lat.to_radians(), lon.to_radians());
        Plane {
            origin: (lat, lon),
            east: [-l.sin(), l.cos(), 0.0],
            north: [-p.sin() * l.cos(), -p.sin() * l.sin(), p.cos()],
        }
    }

    /// The plane through the mean direction of the fences (or the equator at
    /// 0° E when there are none).
    pub(super) fn centred_on(fences: &[FenceDef]) -> Plane {
        let mut m = [0.0; 3];
        for f in fences {
            let e = ecef(f.lat, f.lon);
            for k in 0..3 {
                m[k] += e[k];
            }
        }
        let n = (m[0] * m[0] + m[1] * m[1] + m[2] * m[2]).sqrt();
        if n == 0.0 {
            return Plane::at(0.0, 0.0);
        }
        Plane::at(
            (m[2] / n).asin().to_degrees(),
            m[1].atan2(m[0]).to_degrees(),
        )
    }

    pub(super) fn project(&self, lat: f64, lon: f64) -> [f64; 2] {
        let e = ecef(lat, lon);
        let dot = |a: &[f64; 3]| a[0] * e[0] + a[1] * e[1] + a[2] * e[2];
        [dot(&self.east), dot(&self.north)]
    }
}
