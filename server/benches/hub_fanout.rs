//! The hub's fan-out in-process: one publication to N subscribers (encode once, try-push the
//! same bytes into every outbox). `cargo bench -p taina --bench hub_fanout`

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Map};
use taina::config::RealtimeConfig;
use taina::events::MemoryBus;
use taina::ids::{CommunityId, SessionId, UserId};
use taina::realtime::{Hub, Sequence};

fn fanout(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let mut group = c.benchmark_group("hub publish");
    for subscribers in [100usize, 1000, 5000] {
        let hub = Arc::new(Hub::new(
            RealtimeConfig {
                max_connections_per_user: usize::MAX,
                max_connections_per_address: usize::MAX,
                history_size: 100,
                ..RealtimeConfig::default()
            },
            Arc::new(MemoryBus::new(16)),
        ));
        let registrations: Vec<_> = (0..subscribers)
            .map(|i| {
                let (registration, _commands) = hub
                    .register(
                        &UserId::from(format!("u{i}")),
                        &CommunityId::from("c"),
                        &SessionId::from(format!("s{i}")),
                        None,
                    )
                    .unwrap();
                hub.subscribe("community:c", &registration.conn, "1", None, None)
                    .subscriber
                    .go_live(None);
                registration
            })
            .collect();
        let mut payload = Map::new();
        payload.insert("body".into(), json!("a chat message of ordinary length"));
        group.throughput(Throughput::Elements(subscribers as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(subscribers),
            &subscribers,
            |b, _| {
                b.iter_custom(|iterations| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iterations {
                        let started = Instant::now();
                        hub.publish("community:c", "new_msg", payload.clone(), Sequence::Next);
                        spent += started.elapsed();
                        // Drain outside the timing, as the writers would.
                        for registration in &registrations {
                            while registration.conn.outbox.try_next().is_some() {}
                        }
                    }
                    spent
                })
            },
        );
        drop(registrations);
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
