//! Great-circle distances and the bounding boxes that let an index find nearby places.

const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Haversine distance in kilometres.
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().asin()
}

/// A box that contains every point within `radius_km` of the centre: `(min_lat, max_lat, min_lon, max_lon)`.
/// Near the poles or the antimeridian the longitude range opens to the whole circle.
pub fn bounding_box(lat: f64, lon: f64, radius_km: f64) -> (f64, f64, f64, f64) {
    let dlat = (radius_km / EARTH_RADIUS_KM).to_degrees();
    let min_lat = (lat - dlat).max(-90.0);
    let max_lat = (lat + dlat).min(90.0);
    let widest = min_lat.abs().max(max_lat.abs()).to_radians().cos();
    if widest < 1e-6 {
        return (min_lat, max_lat, -180.0, 180.0);
    }
    let dlon = (radius_km / (EARTH_RADIUS_KM * widest)).to_degrees();
    if lon - dlon < -180.0 || lon + dlon > 180.0 { (min_lat, max_lat, -180.0, 180.0) } else { (min_lat, max_lat, lon - dlon, lon + dlon) }
}

/// Parses `LAT,LON`.
pub fn parse_point(s: &str) -> Result<(f64, f64), &'static str> {
    let (lat, lon) = s.split_once(',').ok_or("near is LAT,LON in decimal degrees")?;
    let lat: f64 = lat.trim().parse().map_err(|_| "near is LAT,LON in decimal degrees")?;
    let lon: f64 = lon.trim().parse().map_err(|_| "near is LAT,LON in decimal degrees")?;
    check_point(lat, lon)?;
    Ok((lat, lon))
}

pub fn check_point(lat: f64, lon: f64) -> Result<(), &'static str> {
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        Err("latitude is between -90 and 90")
    } else if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        Err("longitude is between -180 and 180")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bengaluru_to_mysuru() {
        let d = distance_km(12.9716, 77.5946, 12.2958, 76.6394);
        assert!((d - 127.0).abs() < 3.0, "{d}");
    }

    #[test]
    fn box_contains_the_circle() {
        let (lat, lon, r) = (28.6, 77.2, 25.0);
        let (a, b, c, d) = bounding_box(lat, lon, r);
        for bearing in 0..360 {
            let t = f64::from(bearing).to_radians();
            let (plat, plon) = (lat + (r / 111.2) * t.cos() * 0.999, lon + (r / (111.2 * lat.to_radians().cos())) * t.sin() * 0.999);
            assert!(distance_km(lat, lon, plat, plon) <= r + 0.5);
            assert!(plat >= a && plat <= b && plon >= c && plon <= d);
        }
    }

    #[test]
    fn points() {
        assert_eq!(parse_point("12.9, 77.5").unwrap(), (12.9, 77.5));
        for bad in ["12.9", "x,1", "91,0", "0,181", "NaN,0"] {
            assert!(parse_point(bad).is_err(), "{bad}");
        }
    }
}
