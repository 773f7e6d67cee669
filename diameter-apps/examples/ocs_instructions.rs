//! Runs Gy sessions through the OCS charging path in process, without sockets, for counting
//! instructions under callgrind (machine-independent, unlike CPU time on a shared machine):
//! `scripts/ocs-instructions.sh` runs it with N = 0 and N = K and prints the difference per
//! CCR, by function.
//!
//! Each session is what `diameter bench --kind ccr-session --updates 2` sends: CCR-INITIAL
//! with one Multiple-Services-Credit-Control asking for octets, two CCR-UPDATEs that also
//! report usage, CCR-TERMINATION with the last usage; 128 sessions in flight, the embedded
//! store (journal `fdatasync` before each answer), the demo tariffs of `serve ocs`, 1,000
//! subscribers provisioned on first use. A warm-up of 1,000 sessions runs whatever N is,
//! so that N = 0 counts the same set-up and provisioning; the changes go into SQLite in one
//! checkpoint, when the store is dropped.
//!
//! Usage: `ocs_instructions DIR N` (DIR: an empty directory for the store).

use diameter::dict::dcca_rfc4006::{
    CcRequestType, Ccr, MultipleServicesCreditControl, MultipleServicesIndicator,
    RequestedServiceUnit, SubscriptionId, SubscriptionIdType, UsedServiceUnit,
};
use diameter_apps::ocs::rating::Tariffs;
use diameter_apps::ocs::server::{ChargingServer, ServerConfig};
use diameter_apps::ocs::store;
use std::sync::Arc;
use std::time::SystemTime;

const TARIFFS: &str = "currency = 978\nexponent = 2\n\n[[tariff]]\nname = \"data\"\n\
    unit = \"total_octets\"\nblock = 1048576\nprice = 1\ndefault_quota = 10485760\n";
const PEER: &str = "bench-0.localdomain";
const SUBSCRIBERS: u32 = 1_000;
const IN_FLIGHT: u32 = 128;
const WARM_UP: u32 = 1_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, n] = &args[..] else {
        eprintln!("usage: ocs_instructions DIR N");
        std::process::exit(2);
    };
    let n: u32 = n.parse().expect("N is a number");
    // One checkpoint into SQLite, when the store is dropped: as many checkpoints whatever
    // the run's speed under callgrind (their number would vary the count between runs).
    let mut engine = store::EngineOptions::default();
    engine.checkpoint_interval = std::time::Duration::from_secs(3600);
    engine.checkpoint_records = u64::MAX;
    let url = format!("sqlite://{dir}/ocs.db");
    let store =
        store::open_with_engine(&url, &store::PgOptions::default(), &engine).expect("store opens");
    let mut config = ServerConfig::new("ocs.localdomain", "localdomain");
    config.auto_provision = Some(1_000_000_000);
    let tariffs = Tariffs::parse(TARIFFS).expect("tariffs parse");
    let ocs = Arc::new(ChargingServer::new(store, tariffs, config));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        sessions(&ocs, 0, WARM_UP).await;
        sessions(&ocs, WARM_UP, n).await;
    });
}

/// Runs `count` sessions numbered from `first`, [`IN_FLIGHT`] at a time.
async fn sessions(ocs: &Arc<ChargingServer>, first: u32, count: u32) {
    let mut next = first;
    while next < first + count {
        let batch = (first + count - next).min(IN_FLIGHT);
        let mut tasks = tokio::task::JoinSet::new();
        for s in next..next + batch {
            let ocs = ocs.clone();
            tasks.spawn(async move { session(&ocs, s).await });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("a session ran to its end");
        }
        next += batch;
    }
}

/// One session: CCR-I, two CCR-U, CCR-T, each answered 2001.
async fn session(ocs: &Arc<ChargingServer>, s: u32) {
    let steps = [
        CcRequestType::InitialRequest,
        CcRequestType::UpdateRequest,
        CcRequestType::UpdateRequest,
        CcRequestType::TerminationRequest,
    ];
    for (number, kind) in steps.into_iter().enumerate() {
        let ccr = request(s, kind, number as u32);
        let cca = ocs
            .handle_ccr_shared(ccr, PEER, SystemTime::now())
            .await
            .expect("no panic");
        assert_eq!(cca.result_code, 2001, "session {s} step {number}");
    }
}

/// A CCR as `diameter bench` builds it.
fn request(s: u32, kind: CcRequestType, number: u32) -> Ccr {
    let usage = (kind != CcRequestType::InitialRequest).then(|| UsedServiceUnit {
        cc_total_octets: Some(1000),
        ..Default::default()
    });
    let ask = (kind != CcRequestType::TerminationRequest).then(|| {
        RequestedServiceUnit {
            cc_total_octets: Some(1_048_576),
            ..Default::default()
        }
        .into()
    });
    Ccr {
        session_id: format!("bench-0.localdomain;1;{s}").into(),
        origin_host: PEER.into(),
        origin_realm: "localdomain".into(),
        destination_realm: "localdomain".into(),
        auth_application_id: 4,
        service_context_id: "32251@3gpp.org".into(),
        cc_request_type: kind,
        cc_request_number: number,
        subscription_id: vec![SubscriptionId {
            subscription_id_type: SubscriptionIdType::EndUserE164,
            subscription_id_data: format!("4917{:08}", s % SUBSCRIBERS).into(),
            ..Default::default()
        }]
        .into(),
        multiple_services_indicator: (kind == CcRequestType::InitialRequest)
            .then_some(MultipleServicesIndicator::MultipleServicesSupported),
        multiple_services_credit_control: vec![MultipleServicesCreditControl {
            requested_service_unit: ask,
            used_service_unit: usage.into_iter().collect(),
            ..Default::default()
        }]
        .into(),
        ..Default::default()
    }
}
