//! The printed figures: one row per measurement, in a plain-text table.

use crate::load::Sample;

/// One line of the table.
pub struct Row {
    pub name: String,
    pub backend: &'static str,
    pub connections: usize,
    pub requests: u64,
    pub errors: u64,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub target: String,
    /// `None` for rows that have no target of their own (baselines).
    pub pass: Option<bool>,
    pub note: String,
}

impl Row {
    pub fn new(name: impl Into<String>, backend: &'static str, connections: usize, sample: &Sample) -> Self {
        Self {
            name: name.into(),
            backend,
            connections,
            requests: sample.requests(),
            errors: sample.errors,
            per_sec: sample.per_sec(),
            p50_ms: sample.percentile_ms(50.0),
            p99_ms: sample.percentile_ms(99.0),
            target: "-".into(),
            pass: None,
            note: String::new(),
        }
    }

    /// Sets the target; any failed request fails the row too.
    pub fn target(mut self, text: impl Into<String>, met: bool) -> Self {
        self.target = text.into();
        self.pass = Some(met && self.errors == 0);
        self
    }

    pub fn note(mut self, text: impl Into<String>) -> Self {
        self.note = text.into();
        self
    }
}

/// Prints `header` and the table of `rows`; whether every row with a target met it.
pub fn print_verdict(header: &str, rows: &[Row]) -> bool {
    println!();
    println!("{header}");
    println!();
    print!("{}", table(rows));
    rows.iter().all(|r| r.pass != Some(false))
}

const HEADERS: [&str; 11] =
    ["workload", "backend", "conns", "requests", "errors", "req/s", "p50 ms", "p99 ms", "target", "result", "notes"];

/// Renders the rows as an aligned table; numbers are right-aligned.
pub fn table(rows: &[Row]) -> String {
    let cells: Vec<[String; 11]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.backend.to_owned(),
                r.connections.to_string(),
                r.requests.to_string(),
                r.errors.to_string(),
                format!("{:.0}", r.per_sec),
                format!("{:.2}", r.p50_ms),
                format!("{:.2}", r.p99_ms),
                r.target.clone(),
                verdict(r.pass),
                r.note.clone(),
            ]
        })
        .collect();
    aligned(&HEADERS, &cells, |i| (2..=7).contains(&i))
}

/// Renders `rows` under `headers`, columns padded to their widest cell; `numeric` columns are right-aligned.
fn aligned<const N: usize>(headers: &[&str; N], rows: &[[String; N]], numeric: impl Fn(usize) -> bool) -> String {
    let mut widths = headers.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |row: &[String]| {
        let parts: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| if numeric(i) { format!("{c:>w$}", w = widths[i]) } else { format!("{c:<w$}", w = widths[i]) })
            .collect();
        parts.join("  ").trim_end().to_owned()
    };
    let mut out = String::new();
    out.push_str(&line(&headers.map(String::from)));
    out.push('\n');
    out.push_str(&line(&widths.map(|w| "-".repeat(w))));
    out.push('\n');
    for row in rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    out
}

/// One line of the vaidya-against-PeerJS table.
pub struct Comparison {
    pub name: String,
    pub unit: &'static str,
    pub vaidya: f64,
    /// `None` when PeerJS was not run or has no counterpart (two nodes through Redis).
    pub peerjs: Option<f64>,
    /// The bare relay's figure, where it ran the same workload (see `crate::floor`).
    pub floor: Option<f64>,
    pub target: String,
    pub pass: Option<bool>,
    pub note: String,
}

impl Comparison {
    pub fn new(name: impl Into<String>, unit: &'static str, vaidya: f64, peerjs: Option<f64>) -> Self {
        Self { name: name.into(), unit, vaidya, peerjs, floor: None, target: "-".into(), pass: None, note: String::new() }
    }

    /// vaidya / PeerJS.
    pub fn ratio(&self) -> Option<f64> {
        self.over_peerjs(Some(self.vaidya))
    }

    /// `figure` / PeerJS.
    fn over_peerjs(&self, figure: Option<f64>) -> Option<f64> {
        self.peerjs.filter(|p| *p > 0.0).zip(figure).map(|(p, f)| f / p)
    }

    pub fn floor(mut self, figure: f64) -> Self {
        self.floor = Some(figure);
        self
    }

    pub fn target(mut self, text: impl Into<String>, met: Option<bool>) -> Self {
        self.target = text.into();
        self.pass = met;
        self
    }

    pub fn note(mut self, text: impl Into<String>) -> Self {
        self.note = text.into();
        self
    }
}

/// Two decimals for small figures, none for large ones.
fn figure(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

const COMPARISON_HEADERS: [&str; 10] =
    ["measurement", "unit", "vaidya", "PeerJS", "vaidya/PeerJS", "floor", "floor/PeerJS", "target", "result", "notes"];

pub fn comparison_table(rows: &[Comparison]) -> String {
    let times = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.2}x"));
    let cells: Vec<[String; 10]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.unit.to_owned(),
                figure(r.vaidya),
                r.peerjs.map_or("-".into(), figure),
                times(r.ratio()),
                r.floor.map_or("-".into(), figure),
                times(r.over_peerjs(r.floor)),
                r.target.clone(),
                verdict(r.pass),
                r.note.clone(),
            ]
        })
        .collect();
    aligned(&COMPARISON_HEADERS, &cells, |i| (2..=6).contains(&i))
}

/// `pass`, `FAIL`, or `-` where there is no target.
fn verdict(pass: Option<bool>) -> String {
    match pass {
        Some(true) => "pass".into(),
        Some(false) => "FAIL".into(),
        None => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn percentiles_and_table() {
        let sample =
            Sample { latencies_ns: (1..=100).map(|i| i * 1_000_000).collect(), elapsed: Duration::from_secs(2), ..Sample::default() };
        assert_eq!(sample.percentile_ms(50.0), 50.0);
        assert_eq!(sample.percentile_ms(99.0), 99.0);
        assert_eq!(sample.per_sec(), 50.0);
        let row = Row::new("search", "sqlite", 8, &sample).target("p99 < 10 ms", sample.percentile_ms(99.0) < 10.0);
        let text = table(&[row]);
        assert!(text.contains("FAIL"), "{text}");
        assert_eq!(text.lines().count(), 3);
    }

    #[test]
    fn comparison_ratio() {
        let row = Comparison::new("relay", "msg/s", 30_000.0, Some(10_000.0)).target(">= 1.5x PeerJS", Some(true));
        assert_eq!(row.ratio(), Some(3.0));
        let text = comparison_table(&[row.floor(40_000.0), Comparison::new("redis p99", "ms", 2.5, None)]);
        assert!(text.contains("3.00x") && text.contains("30000") && text.contains("2.50"), "{text}");
        assert!(text.contains("40000") && text.contains("4.00x"), "the floor and its ratio to PeerJS: {text}");
    }
}
