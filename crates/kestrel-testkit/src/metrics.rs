//! The metrics port from the outside: plain HTTP, Prometheus scrapes, and
//! the metric names the deploy files (Grafana dashboard, Prometheus alert
//! rules) use.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One HTTP/1.0 request; the status code and the body.
pub fn http(addr: &str, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    http_with(addr, method, path, &[], "")
}

/// One HTTP/1.0 request with extra headers and a body.
pub fn http_with(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// `GET /metrics` on `addr`: the scrape, or an error if it cannot be
/// reached or does not answer 200.
pub fn scrape(addr: &str) -> std::io::Result<String> {
    let (code, body) = http(addr, "GET", "/metrics")?;
    if code != 200 {
        return Err(std::io::Error::other(format!("/metrics answered {code}")));
    }
    Ok(body)
}

/// Every sample of a scrape by its series as written (`name{labels}`).
pub fn series(scrape: &str) -> BTreeMap<String, f64> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// One sample of a scrape: name, labels, value.
pub type Sample = (String, BTreeMap<String, String>, f64);

/// Every sample of a Prometheus text scrape.
pub fn samples(scrape: &str) -> Vec<Sample> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|kv| !kv.is_empty())
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k.to_string(), v.trim_matches('"').to_string()))
                })
                .collect();
            Some((name.to_string(), labels, value))
        })
        .collect()
}

/// The value of the sample `name` whose labels include `labels`.
pub fn sample(scrape: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples(scrape).into_iter().find_map(|(n, l, v)| {
        (n == name
            && labels
                .iter()
                .all(|(k, want)| l.get(*k).map(String::as_str) == Some(*want)))
        .then_some(v)
    })
}

/// Metric family names of a scrape (from its `# TYPE` lines).
pub fn family_names(scrape: &str) -> BTreeSet<String> {
    scrape
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Every `kestrel_…` metric name in an expression text, with the
/// histogram suffixes taken off.
pub fn metric_names_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("kestrel_") {
        let start = i + pos;
        let boundary = start == 0 || {
            let c = bytes[start - 1];
            !(c.is_ascii_alphanumeric() || c == b'_')
        };
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        if boundary {
            let mut name = &text[start..end];
            for suffix in ["_bucket", "_sum", "_count"] {
                if let Some(base) = name.strip_suffix(suffix) {
                    if base.ends_with("_seconds") {
                        name = base;
                    }
                }
            }
            out.insert(name.to_string());
        }
        i = end;
    }
    out
}

/// Runs `promtool ARGS` with `stdin`; its success and output.
pub fn promtool(args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is missing: `apt-get install prometheus` (scripts/test.sh does)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The metric names the Grafana dashboard and the Prometheus alert rules
/// use.
pub fn names_in_deploy_files() -> BTreeSet<String> {
    let root = crate::root();
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("deploy/grafana/kestrel.json")).unwrap(),
    )
    .unwrap();
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    let alerts = std::fs::read_to_string(root.join("deploy/prometheus/alerts.yml")).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&alerts).unwrap();
    for group in docs[0]["groups"].as_vec().unwrap() {
        for rule in group["rules"].as_vec().unwrap() {
            exprs.push(rule["expr"].as_str().unwrap().to_string());
        }
    }
    assert!(!exprs.is_empty());
    exprs.iter().flat_map(|e| metric_names_in(e)).collect()
}

fn collect_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr" | "query", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &str = "# TYPE kestrel_posts_total counter\nkestrel_posts_total 3\nkestrel_dead_letters_total{reason=\"not_json\",topic=\"posts\"} 2\n";

    #[test]
    fn a_scrape_reads_by_series_and_by_labels() {
        let by_series = series(SCRAPE);
        assert_eq!(by_series["kestrel_posts_total"], 3.0);
        assert_eq!(
            by_series["kestrel_dead_letters_total{reason=\"not_json\",topic=\"posts\"}"],
            2.0
        );
        assert_eq!(
            sample(
                SCRAPE,
                "kestrel_dead_letters_total",
                &[("reason", "not_json")]
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(SCRAPE, "kestrel_dead_letters_total", &[("reason", "x")]),
            None
        );
        assert_eq!(
            family_names(SCRAPE).into_iter().collect::<Vec<_>>(),
            ["kestrel_posts_total"]
        );
    }
}
