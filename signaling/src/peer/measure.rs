//! Join-to-connected timing for a doctor and a patient: the figure the load tool reports (target p50 < 300 ms on loopback).

use std::time::{Duration, Instant};

use super::{Peer, PeerOptions, Result};

/// One consult set up from scratch.
#[derive(Clone, Copy, Debug)]
pub struct JoinTiming {
    /// From the doctor's first byte to both peer connections `connected`.
    pub total: Duration,
    /// From the patient's first byte (the doctor already in the room) to both `connected`: what a patient waits.
    pub patient: Duration,
}

/// The doctor joins, the patient joins, the doctor admits at once; both wait for `connected`.
/// Each call needs tokens for a fresh room (or a room both left).
pub async fn join_to_connected(ws_url: &str, doctor_token: &str, patient_token: &str, within: Duration) -> Result<JoinTiming> {
    let options = PeerOptions { send_media: false, ..PeerOptions::default() };
    let start = Instant::now();
    let doctor = Peer::join_with(ws_url, doctor_token, options.clone()).await?;
    let patient_start = Instant::now();
    let patient = Peer::join_with(ws_url, patient_token, options).await?;
    doctor.admit(patient.peer_id(), within).await?;
    let (a, b) = tokio::join!(doctor.wait_connected(within), patient.wait_connected(within));
    let timing = JoinTiming { total: start.elapsed(), patient: patient_start.elapsed() };
    a?;
    b?;
    tokio::join!(doctor.close(), patient.close());
    Ok(timing)
}

/// The `p`-th percentile (0–100, nearest rank) of `samples`; zero for none.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let ms: Vec<Duration> = (1..=10).map(Duration::from_millis).collect();
        assert_eq!(percentile(&ms, 50.0), Duration::from_millis(5));
        assert_eq!(percentile(&ms, 90.0), Duration::from_millis(9));
        assert_eq!(percentile(&ms, 100.0), Duration::from_millis(10));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
