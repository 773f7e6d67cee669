//! Scenario files for `diameter bench --scenario FILE`: call flows in TOML, mixed by
//! weight, with subscribers drawn from a range or a CSV column.
//!
//! ```toml
//! session_id = "bench;{pid};{scenario};{seq}"
//! [msisdn]
//! range = [46700000000, 46700000999]   # or: csv = "subs.csv", column = "msisdn"
//! order = "sequential"                 # or "random"
//! [user]                               # SIP steps: User-Name / SIP-AOR per flow
//! range = [1, 100]                     # or csv/column, like msisdn
//! format = "user{}@example.net"        # optional: {} is the value
//! [[scenario]]
//! name = "data"
//! weight = 3
//! steps = [
//!   { send = "ccr-initial" },
//!   { send = "ccr-update", repeat = 2, think = "100ms" },
//!   { send = "ccr-termination", think = "100ms" },
//! ]
//! ```

use super::template::Step;
use crate::cli::duration;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// The Session-Id pattern when the file has none.
pub const DEFAULT_SESSION_ID: &str = "bench;{pid};{scenario};{seq}";

/// A parsed, checked scenario file.
#[derive(Debug)]
pub struct ScenarioFile {
    /// Session-Id pattern: `{seq}`, `{scenario}`, `{pid}` are replaced.
    pub session_id: String,
    /// Where subscriber numbers come from.
    pub msisdn: Values,
    /// Where the SIP users (User-Name, SIP-AOR) come from; None: `--user` for every flow.
    pub user: Option<Values>,
    /// The flows, each with a weight > 0.
    pub scenarios: Vec<Scenario>,
}

/// One call flow.
#[derive(Debug)]
pub struct Scenario {
    /// Its name in reports.
    pub name: String,
    /// Relative weight in the mix.
    pub weight: u32,
    /// Messages in order, repeats expanded.
    pub steps: Vec<FlowStep>,
}

/// One message of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowStep {
    /// What to send.
    pub message: Message,
    /// Pause before sending (after the previous answer).
    pub think: Duration,
}

/// A message a flow can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Message {
    /// CCR INITIAL_REQUEST.
    CcrInitial,
    /// CCR UPDATE_REQUEST.
    CcrUpdate,
    /// CCR TERMINATION_REQUEST.
    CcrTermination,
    /// CCR EVENT_REQUEST (an SMS, a one-shot charge).
    CcrEvent,
    /// SIP User-Authorization-Request (a registration check).
    Uar,
    /// SIP Multimedia-Auth-Request of a REGISTER (asks for a Digest challenge).
    Mar,
    /// SIP Server-Assignment-Request REGISTRATION (after an authentication).
    Sar,
}

impl Message {
    /// Its name in reports.
    pub fn label(self) -> &'static str {
        match self {
            Message::CcrInitial => "CCR-I",
            Message::CcrUpdate => "CCR-U",
            Message::CcrTermination => "CCR-T",
            Message::CcrEvent => "CCR-E",
            Message::Uar => "UAR",
            Message::Mar => "MAR",
            Message::Sar => "SAR",
        }
    }

    /// The template step that builds it.
    pub fn step(self) -> Step {
        match self {
            Message::CcrInitial => Step::Initial,
            Message::CcrUpdate => Step::Update,
            Message::CcrTermination => Step::Termination,
            Message::CcrEvent | Message::Uar | Message::Mar | Message::Sar => Step::Single,
        }
    }

    /// Whether it is a SIP request (no CC-Request-Number).
    pub fn is_sip(self) -> bool {
        matches!(self, Message::Uar | Message::Mar | Message::Sar)
    }
}

/// Values picked per flow by its sequence number.
#[derive(Debug)]
pub struct Values {
    source: Source,
    random: bool,
    /// `{}` is replaced with the picked value.
    format: Option<String>,
}

#[derive(Debug)]
enum Source {
    Range(u64, u64),
    List(Vec<String>),
}

impl Values {
    /// The value for flow `seq`.
    pub fn pick(&self, seq: u64) -> String {
        let len = match &self.source {
            Source::Range(lo, hi) => hi - lo + 1,
            Source::List(v) => v.len() as u64,
        };
        let i = if self.random { splitmix64(seq) } else { seq } % len.max(1);
        let value = match &self.source {
            Source::Range(lo, _) => (lo + i).to_string(),
            Source::List(v) => v.get(i as usize).cloned().unwrap_or_default(),
        };
        match &self.format {
            Some(f) => f.replace("{}", &value),
            None => value,
        }
    }
}

/// A well-mixed 64-bit hash (SplitMix64's finaliser): random-looking, reproducible picks.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl ScenarioFile {
    /// Reads and checks a scenario file; a CSV is read relative to the file.
    pub fn load(path: &Path) -> Result<ScenarioFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        ScenarioFile::parse(&text, dir).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses and checks scenario TOML; `dir` is where relative CSV paths start.
    pub fn parse(text: &str, dir: &Path) -> Result<ScenarioFile, String> {
        let raw: RawFile = toml::from_str(text).map_err(|e| e.to_string())?;
        if raw.scenario.is_empty() {
            return Err("no [[scenario]]".into());
        }
        let mut scenarios = Vec::new();
        for s in raw.scenario {
            if s.weight == 0 {
                return Err(format!("scenario {:?}: weight must be at least 1", s.name));
            }
            if s.steps.is_empty() {
                return Err(format!("scenario {:?}: no steps", s.name));
            }
            let mut steps = Vec::new();
            for st in s.steps {
                let think = match &st.think {
                    Some(t) => duration::parse(t).map_err(|e| format!("{:?}: {e}", s.name))?,
                    None => Duration::ZERO,
                };
                if st.repeat > 1000 {
                    return Err(format!("scenario {:?}: repeat above 1000", s.name));
                }
                for _ in 0..st.repeat {
                    steps.push(FlowStep {
                        message: st.send,
                        think,
                    });
                }
            }
            scenarios.push(Scenario {
                name: s.name,
                weight: s.weight,
                steps,
            });
        }
        let msisdn = match raw.msisdn {
            None => Values {
                source: Source::Range(46_700_000_000, 46_700_000_999),
                random: false,
                format: None,
            },
            Some(v) => v.into_values(dir, "msisdn")?,
        };
        let user = raw.user.map(|v| v.into_values(dir, "user")).transpose()?;
        Ok(ScenarioFile {
            session_id: raw.session_id.unwrap_or_else(|| DEFAULT_SESSION_ID.into()),
            msisdn,
            user,
            scenarios,
        })
    }

    /// The scenario of flow `seq`, drawn by weight.
    pub fn choose(&self, seq: u64) -> &Scenario {
        let total: u64 = self.scenarios.iter().map(|s| u64::from(s.weight)).sum();
        let mut r = splitmix64(seq ^ 0x5ce_0a71) % total.max(1);
        for s in &self.scenarios {
            if r < u64::from(s.weight) {
                return s;
            }
            r -= u64::from(s.weight);
        }
        &self.scenarios[0]
    }

    /// Whether any flow sends this message.
    pub fn uses(&self, m: Message) -> bool {
        self.scenarios
            .iter()
            .any(|s| s.steps.iter().any(|st| st.message == m))
    }

    /// The Session-Id of flow `seq`.
    pub fn session_id(&self, seq: u64, scenario: &str) -> String {
        self.session_id
            .replace("{seq}", &seq.to_string())
            .replace("{scenario}", scenario)
            .replace("{pid}", &std::process::id().to_string())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    session_id: Option<String>,
    msisdn: Option<RawValues>,
    user: Option<RawValues>,
    #[serde(default)]
    scenario: Vec<RawScenario>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    #[serde(default = "one")]
    weight: u32,
    steps: Vec<RawStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    send: Message,
    #[serde(default = "one")]
    repeat: u32,
    think: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawValues {
    range: Option<[u64; 2]>,
    csv: Option<String>,
    column: Option<String>,
    #[serde(default)]
    order: Order,
    format: Option<String>,
}

#[derive(Deserialize, Default, PartialEq)]
#[serde(rename_all = "kebab-case")]
enum Order {
    #[default]
    Sequential,
    Random,
}

fn one() -> u32 {
    1
}

impl RawValues {
    fn into_values(self, dir: &Path, what: &str) -> Result<Values, String> {
        let source = match (self.range, self.csv) {
            (Some([lo, hi]), None) if lo <= hi && hi - lo < u64::MAX => Source::Range(lo, hi),
            (Some(_), None) => {
                return Err(format!("{what}: range must be [low, high], low <= high"))
            }
            (None, Some(file)) => {
                let path = dir.join(file);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Source::List(csv_column(&text, self.column.as_deref())?)
            }
            _ => return Err(format!("{what}: give either range or csv")),
        };
        if self.format.as_deref().is_some_and(|f| !f.contains("{}")) {
            return Err(format!("{what}: format must contain {{}}"));
        }
        Ok(Values {
            source,
            random: self.order == Order::Random,
            format: self.format,
        })
    }
}

/// One column of a simple CSV (comma-separated, no quoting): by header name, or the first
/// column when none is named (then a first line that is a header is still taken as one).
fn csv_column(text: &str, column: Option<&str>) -> Result<Vec<String>, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or("the CSV is empty")?
        .split(',')
        .map(str::trim)
        .collect();
    let index = match column {
        Some(c) => header
            .iter()
            .position(|h| *h == c)
            .ok_or_else(|| format!("the CSV has no column {c:?} (it has {header:?})"))?,
        None => 0,
    };
    let values: Vec<String> = lines
        .filter_map(|l| l.split(',').nth(index).map(|v| v.trim().to_owned()))
        .filter(|v| !v.is_empty())
        .collect();
    if values.is_empty() {
        return Err("the CSV has no values under its header".into());
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
        session_id = "s;{scenario};{seq}"
        [msisdn]
        range = [100, 104]
        [[scenario]]
        name = "data"
        weight = 3
        steps = [
          { send = "ccr-initial" },
          { send = "ccr-update", repeat = 2, think = "50ms" },
          { send = "ccr-termination" },
        ]
        [[scenario]]
        name = "sms"
        steps = [{ send = "ccr-event" }]
    "#;

    #[test]
    fn parses_flows_with_repeats_and_think_times() {
        let f = ScenarioFile::parse(FILE, Path::new(".")).expect("parse");
        let data = &f.scenarios[0];
        let kinds: Vec<_> = data.steps.iter().map(|s| s.message.label()).collect();
        assert_eq!(kinds, ["CCR-I", "CCR-U", "CCR-U", "CCR-T"]);
        assert_eq!(data.steps[1].think, Duration::from_millis(50));
        assert_eq!(f.scenarios[1].weight, 1);
        assert_eq!(f.session_id(7, "sms"), "s;sms;7");
        assert!(f.uses(Message::CcrEvent) && !f.uses(Message::Uar));
    }

    #[test]
    fn weights_are_roughly_honoured() {
        let f = ScenarioFile::parse(FILE, Path::new(".")).expect("parse");
        let data = (0..4000).filter(|n| f.choose(*n).name == "data").count();
        assert!((2800..3200).contains(&data), "{data}");
    }

    #[test]
    fn ranges_cycle_in_order_or_spread_at_random() {
        let f = ScenarioFile::parse(FILE, Path::new(".")).expect("parse");
        let picks: Vec<_> = (0..6).map(|n| f.msisdn.pick(n)).collect();
        assert_eq!(picks, ["100", "101", "102", "103", "104", "100"]);
        let random = FILE.replace(
            "range = [100, 104]",
            "range = [100, 104]\norder = \"random\"",
        );
        let f = ScenarioFile::parse(&random, Path::new(".")).expect("parse");
        let picks: std::collections::BTreeSet<_> = (0..100).map(|n| f.msisdn.pick(n)).collect();
        assert_eq!(picks.len(), 5);
    }

    #[test]
    fn csv_columns_by_name() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("s.csv"), "name,msisdn\na,111\nb,222\n").expect("csv");
        let text = FILE.replace("range = [100, 104]", "csv = \"s.csv\"\ncolumn = \"msisdn\"");
        let f = ScenarioFile::parse(&text, dir.path()).expect("parse");
        assert_eq!(f.msisdn.pick(0), "111");
        assert_eq!(f.msisdn.pick(3), "222");
    }

    #[test]
    fn the_example_scenario_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/bench/gy-mix.toml");
        let f = ScenarioFile::load(&path).expect("example");
        assert_eq!(f.scenarios.len(), 2);
        assert!(f.uses(Message::CcrTermination) && f.uses(Message::CcrEvent));
    }

    #[test]
    fn the_sip_registration_example_draws_users_from_a_range() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/bench/sip-register.toml");
        let f = ScenarioFile::load(&path).expect("example");
        let kinds: Vec<_> = f.scenarios[0].steps.iter().map(|s| s.message).collect();
        assert_eq!(kinds, [Message::Uar, Message::Mar, Message::Sar]);
        assert!(kinds.iter().all(|m| m.is_sip()) && !Message::CcrEvent.is_sip());
        let users = f.user.as_ref().expect("[user]");
        assert_eq!(users.pick(0), "user1@localdomain");
        assert_eq!(users.pick(100), "user1@localdomain");
        assert_eq!(users.pick(99), "user100@localdomain");
        assert!(ScenarioFile::parse(FILE, Path::new("."))
            .expect("parse")
            .user
            .is_none());
    }

    #[test]
    fn rejects_bad_files() {
        for bad in [
            "",
            "[[scenario]]\nname = \"x\"\nsteps = []",
            "[[scenario]]\nname = \"x\"\nweight = 0\nsteps = [{ send = \"uar\" }]",
            "[[scenario]]\nname = \"x\"\nsteps = [{ send = \"ccr-bogus\" }]",
            "[[scenario]]\nname = \"x\"\nsteps = [{ send = \"uar\", think = \"soon\" }]",
            "[msisdn]\nrange = [5, 1]\n[[scenario]]\nname = \"x\"\nsteps = [{ send = \"uar\" }]",
            "[user]\nrange = [1, 5]\nformat = \"u@x\"\n[[scenario]]\nname = \"x\"\nsteps = [{ send = \"mar\" }]",
            "[user]\n[[scenario]]\nname = \"x\"\nsteps = [{ send = \"sar\" }]",
        ] {
            assert!(ScenarioFile::parse(bad, Path::new(".")).is_err(), "{bad}");
        }
    }
}
