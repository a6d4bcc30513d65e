//! The `--json` writer: one JSON object per event (secrets masked inside its strings, so each
//! line stays valid JSON; `t` is seconds since the run started), and the recap line.

use super::super::event::Event;
use super::super::stats::Stats;

/// One event as its `--json` line.
pub(super) fn event_line(event: &Event, t: f64) -> Result<String, serde_json::Error> {
    let mut line = serde_json::to_value(event)?;
    // Masked inside the strings, so the line stays valid JSON.
    mask_json_strings(&mut line);
    if let Some(map) = line.as_object_mut() {
        map.insert("t".into(), serde_json::json!(t));
    }
    Ok(line.to_string())
}

/// The last line of a `--json` run: every host's counters.
pub(super) fn recap_line(stats: &Stats) -> String {
    serde_json::json!({ "event": "recap", "hosts": stats.hosts() }).to_string()
}

/// Every string in `v` with the run's secrets masked (numbers stay numbers: JSON stays valid).
fn mask_json_strings(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            if let std::borrow::Cow::Owned(m) = crate::vars::mask::mask_run(s) {
                *s = m;
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(mask_json_strings),
        serde_json::Value::Object(o) => o.values_mut().for_each(mask_json_strings),
        _ => {}
    }
}
